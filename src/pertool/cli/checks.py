"""Range checks of numeric options, so that `--max-attempts 0` or `--timeout nan` is one line
naming the option (exit 2) instead of a traceback or a run that can never finish."""

from __future__ import annotations

import math
from typing import Any

from pertool.errors import DataError, PertoolError

__all__ = ["RUN_OPTION_RANGES", "check_range", "check_run_config", "check_run_options", "read_prices"]


def check_range(option: str, value: float | None, *, low: float, high: float) -> None:
    """Refuse a value outside [low, high] (NaN and infinities included); None means not given."""
    if not _in_range(value, low, high):
        raise PertoolError(f"{option}: {value!r} is out of range; expected {_fmt(low)} to {_fmt(high)}")


def _in_range(value: object, low: float, high: float) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


_WEEK_S = 7 * 24 * 3600.0
# option attribute -> (low, high); an option absent from a command's namespace is skipped.
RUN_OPTION_RANGES: dict[str, tuple[float, float]] = {
    "limit": (1, 10**9),
    "max_concurrency": (1, 1024),
    "timeout": (0.001, _WEEK_S),
    "deadline": (0.001, _WEEK_S),
    "max_response_mb": (0.001, 1 << 20),
    "max_attempts": (1, 100),
    "backoff_cap": (0.0, _WEEK_S),
    "batch_size": (1, 1 << 16),
    "temperature": (0.0, 100.0),
    "max_tokens": (1, 10**7),
    "resamples": (0, 10**6),  # 0 turns the intervals off
    "seed": (0, 2**63 - 1),
    "replicas": (1, 4096),
    "replica_cpus": (0.0, 1e6),
    "replica_gpus": (0.0, 1e4),
}


def check_run_options(args: object) -> None:
    """Range-check the numeric options a command was given (`eval`, `ablate`, `score`, ...)."""
    for name, (low, high) in RUN_OPTION_RANGES.items():
        check_range("--" + name.replace("_", "-"), getattr(args, name, None), low=low, high=high)


# config.json's `options` (ModelOptions fields) -> the option that set them: a resumed run's
# values pass the same ranges as the command line's.
_CONFIG_OPTION_NAMES = {"timeout_s": "timeout", "deadline_s": "deadline", "max_attempts": "max_attempts",
                        "max_response_mb": "max_response_mb", "backoff_cap_s": "backoff_cap",
                        "batch_size": "batch_size"}  # fmt: skip
_CONFIG_FIELDS = ("temperature", "max_tokens", "limit", "max_concurrency", "resamples", "seed", "replicas",
                  "replica_cpus", "replica_gpus")  # fmt: skip


def check_run_config(config: Any, file: str) -> None:
    """Range-check the numbers of a run's config.json (an `EvalConfig`) before resuming it: a
    NaN timeout or a negative response cap written there is one line naming the field."""
    values = [(name, getattr(config, name, None), name) for name in _CONFIG_FIELDS]
    values += [(option, config.options.get(key), "options." + key)
               for key, option in _CONFIG_OPTION_NAMES.items()]
    for option, value, field in values:
        low, high = RUN_OPTION_RANGES[option]
        if not _in_range(value, low, high):
            raise DataError(file, f"{value!r} is out of range; expected {_fmt(low)} to {_fmt(high)}",
                            field=field)


def read_prices(path: str) -> dict[str, float]:
    """--prices FILE: a JSON object {"input": USD per 1M tokens, "output": ...}, both optional,
    finite and not negative."""
    from pathlib import Path

    from pertool.fileio import read_json

    try:
        data = read_json(Path(path))
    except DataError as exc:
        raise PertoolError(f"--prices {exc}") from None
    if not isinstance(data, dict):
        raise PertoolError(f'--prices {path}: expected a JSON object {{"input": .., "output": ..}}')
    for key, value in data.items():
        if key not in ("input", "output"):
            raise PertoolError(f"--prices {path}, field {key}: unknown; use input and output")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0:
            raise PertoolError(f"--prices {path}, field {key}: expected a price of 0 or more, got {value!r}")
    return {key: float(value) for key, value in data.items()}
