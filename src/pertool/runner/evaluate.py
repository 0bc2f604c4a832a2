"""`pertool.evaluate`: `pertool eval` from Python. The same run directory (config.json,
predictions.jsonl, errors.jsonl, metrics.json), resumable with `pertool eval --resume OUT`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from pertool.errors import PertoolError
from pertool.models.registry import ModelOptions
from pertool.runner.run import EvalConfig, compat_sampling, default_out_dir, run_eval
from pertool.runner.rundir import PREDICTIONS, RunDir
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import ScoreReport

__all__ = ["evaluate"]


def evaluate(
    benchmark: str = "builtin",
    model: str = "baseline/history",
    *,
    out: str | Path | None = None,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    options: ModelOptions | Mapping[str, Any] | None = None,
    tool_mode: Literal["text", "native"] = "text",
    profile_view: Literal["all", "no-basic", "no-history", "none"] = "all",
    compat: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    max_concurrency: int = 8,
    use_cache: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    show_progress: bool = False,
    executor: Literal["local", "ray"] = "local",
    ray_address: str | None = None,
    replicas: int = 1,
    replica_cpus: float | None = None,
    replica_gpus: float | None = None,
) -> ScoreReport:
    """Evaluate `model` on `benchmark` (the specs `pertool eval` takes) into the run directory
    `out` (default: runs/<time>-<model>), and return its scores.

    `options` are the backend settings (`ModelOptions`, or a mapping of its fields: base_url,
    api_key_env, timeout_s, ...). Raises `PertoolError` with the message the CLI would print;
    a run that failed before any sample finished leaves nothing behind.

    `executor="ray"` runs the model as `replicas` Ray actors (each holding `replica_cpus` CPUs
    and `replica_gpus` GPUs) on the cluster at `ray_address` (None: a local Ray started for
    this run; "auto": RAY_ADDRESS or the cluster running here); the results are the same."""
    base = options if isinstance(options, ModelOptions) else replace(ModelOptions(), **dict(options or {}))
    where = str(Path(data_dir).resolve()) if data_dir is not None else None
    if where is not None and base.data_dir is None:
        base = replace(base, data_dir=where)
    sampling = compat_sampling(compat)
    fields = {
        "benchmark": benchmark, "model": model, "options": asdict(base), "tool_mode": tool_mode,
        "profile_view": profile_view, "data_dir": where, "limit": limit, "compat": compat,
        "temperature": sampling["temperature"] if temperature is None else temperature,
        "max_tokens": sampling["max_tokens"] if max_tokens is None else max_tokens,
        "max_concurrency": max_concurrency, "use_cache": use_cache, "resamples": resamples, "seed": seed,
        "executor": executor, "ray_address": ray_address, "replicas": replicas, "replica_cpus": replica_cpus,
        "replica_gpus": replica_gpus,
    }  # fmt: skip
    try:
        config = EvalConfig.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PertoolError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    run_dir = RunDir.create(Path(out) if out is not None else default_out_dir(model),
                            config.model_dump(mode="json"), lock=True)  # fmt: skip
    try:
        return asyncio.run(run_eval(run_dir, config, show_progress=show_progress))
    except Exception:
        predictions = run_dir.path / PREDICTIONS
        if not predictions.exists() or predictions.stat().st_size == 0:
            run_dir.discard()  # nothing was run: take back what this run wrote, nothing else
        raise
    finally:
        run_dir.unlock()
