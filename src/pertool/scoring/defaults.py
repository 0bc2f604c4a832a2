"""Scoring defaults shared by every command and the Python API (kept free of third-party imports
so the CLI can show them in its help without loading NumPy)."""

from __future__ import annotations

__all__ = ["DEFAULT_RESAMPLES"]

# Bootstrap resamples for the 95% intervals (eval, score, report) and the paired tests (compare):
# one number everywhere, so the same run gives the same intervals whichever command shows them.
# 2000 keeps the percentile bounds and small p-values stable (docs/decisions.md).
DEFAULT_RESAMPLES = 2000
