"""What a tracker receives, as flat name -> value maps.

Params come from config.json (or training.json) as pertool wrote them, so they hold what those
files hold and no more: the NAME of the key's environment variable, never a key, and --base-url
with its credentials masked (masked again here, for run directories written by hand).

Metric names (docs/tracking.md):

    <split>/<metric>                 a score of metrics.json's `splits` (split `overall` too)
    <split>/<metric>_ci_low, _ci_high  its 95% bootstrap interval (`intervals`)
    <split>/samples                  samples scored in the split (`counts`)
    <split>/errors/<category>        error counts (`errors`)
    answered, no_answer, context_overflow, failed   sample counts of the run
    usage/<figure>                   tokens, requests, cached, retries, cost_usd (`usage`)
    train/loss (per step), train/final_loss, train/steps, train/samples, train/seconds,
    train/setup_seconds              `train lora` (training.json)

A value that is not a finite number (a metric that is undefined for the run) is left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pertool.urls import redact_url

__all__ = ["eval_metrics", "flat_params", "loss_steps", "training_metrics", "training_params"]

# MLflow's rule for metric and param names; W&B takes the same.
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. /]")
_COUNTS = ("answered", "no_answer", "context_overflow")


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as dotted names -> strings (None left out); any `base_url` masked."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{_name(str(key))}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, prefix=name + "."))
        elif value is not None:
            if key == "base_url" and isinstance(value, str):
                value = redact_url(value)
            out[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return out


def eval_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """metrics.json -> metric names -> numbers (see the module docstring)."""
    out: dict[str, float] = {}
    for split, scores in _dict(metrics.get("splits")).items():
        for metric, value in _dict(scores).items():
            _put(out, f"{split}/{metric}", value)
    for split, intervals in _dict(metrics.get("intervals")).items():
        for metric, interval in _dict(intervals).items():
            if isinstance(interval, (list, tuple)) and len(interval) == 2:
                _put(out, f"{split}/{metric}_ci_low", interval[0])
                _put(out, f"{split}/{metric}_ci_high", interval[1])
    for split, count in _dict(metrics.get("counts")).items():
        _put(out, f"{split}/samples", count)
    for split, errors in _dict(metrics.get("errors")).items():
        _flatten_numbers(out, f"{split}/errors", errors)
    for name in _COUNTS:
        _put(out, name, metrics.get(name))
    if isinstance(metrics.get("failed"), list):
        _put(out, "failed", len(metrics["failed"]))
    _flatten_numbers(out, "usage", metrics.get("usage"))
    return out


def training_params(result: Mapping[str, Any]) -> dict[str, str]:
    """training.json's settings and provenance (the loss history and timings are metrics)."""
    figures = ("loss_history", "steps", "seconds", "setup_seconds", "records_tokenized")
    return flat_params({k: v for k, v in result.items() if k not in figures})


def training_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The final figures of a training run."""
    out: dict[str, float] = {}
    losses = loss_steps(result)
    if losses:
        _put(out, "train/final_loss", losses[-1][1])
    for name in ("steps", "samples", "seconds", "setup_seconds"):
        _put(out, f"train/{name}", result.get(name))
    return out


def loss_steps(result: Mapping[str, Any]) -> list[tuple[int, float]]:
    """(optimizer step, loss) of training.json's loss_history, finite values only."""
    steps = []
    for entry in result.get("loss_history") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("step"), int) and _number(entry.get("loss")):
            steps.append((entry["step"], float(entry["loss"])))
    return steps


def _flatten_numbers(out: dict[str, float], prefix: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten_numbers(out, f"{prefix}/{key}", inner)
    else:
        _put(out, prefix, value)


def _put(out: dict[str, float], name: str, value: Any) -> None:
    if _number(value):
        out[_name(name)] = float(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _name(name: str) -> str:
    return _NOT_ALLOWED.sub("_", name)
