"""Answerers: non-LLM "models" that read the samples themselves (the oracle, replayed
predictions, baselines). They sit above the benchmark kinds; LLM backends (`models/`) never see
a sample. `create_model` resolves any model spec, answerer or backend."""

from pertool.answerers.registry import create_model, model_prefixes

__all__ = ["create_model", "model_prefixes"]
