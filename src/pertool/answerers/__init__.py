"""Answerers: non-LLM "models" that read the samples themselves (the oracle, replayed
predictions, baselines). They sit above the benchmark kinds; LLM backends (`models/`) never see
a sample."""
