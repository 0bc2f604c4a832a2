"""What the tests share: the configurable OpenAI-compatible stub server (re-exported from
`pertool.testing`), a `run_pertool` helper,
and the public-data fixtures. Benchmark scripts import none of this."""
