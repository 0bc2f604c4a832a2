"""Range checks of numeric options, so that `--max-attempts 0` or `--timeout nan` is one line
naming the option (exit 2) instead of a traceback or a run that can never finish."""

from __future__ import annotations

import math

from pertool.errors import PertoolError

__all__ = ["check_range"]


def check_range(option: str, value: float | None, *, low: float, high: float) -> None:
    """Refuse a value outside [low, high] (NaN and infinities included); None means not given."""
    if value is None:
        return
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise PertoolError(f"{option}: {value!r} is out of range; expected {_fmt(low)} to {_fmt(high)}")


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)
