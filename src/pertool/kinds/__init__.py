"""Benchmark kinds: the one interface through which pertool loads, prompts, parses and scores
every benchmark (see `kind.py`)."""

from pertool.kinds.kind import (
    BenchmarkKind,
    Prompt,
    SpecHelp,
    all_kinds,
    check_settings,
    download_names,
    export_source,
    gold_text,
    kind_for_spec,
    kind_named,
    kind_of,
    kind_of_samples,
    load_benchmark,
    remote_dataset,
    spec_summary,
    view_samples,
)

__all__ = [
    "BenchmarkKind",
    "Prompt",
    "SpecHelp",
    "all_kinds",
    "check_settings",
    "download_names",
    "export_source",
    "gold_text",
    "kind_for_spec",
    "kind_named",
    "kind_of",
    "kind_of_samples",
    "load_benchmark",
    "remote_dataset",
    "spec_summary",
    "view_samples",
]
