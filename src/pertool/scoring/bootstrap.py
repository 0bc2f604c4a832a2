"""95% percentile-bootstrap intervals for every metric, seeded and reproducible.

Samples are resampled with replacement within each split (the splits are fixed by design);
ratio metrics (query/profile-param accuracy) are recomputed from resampled numerators and
denominators; the overall column is rebuilt from the resampled splits with the same sample
weights as the point estimate. Vectorised with NumPy: one weight vector per replicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pertool.scoring.results import METRIC_KEYS, OVERALL, RATIO_LEVEL, SampleResult

__all__ = ["bootstrap_intervals", "DEFAULT_RESAMPLES"]

DEFAULT_RESAMPLES = 1000
_CHUNK = 64
_COLUMNS = (
    "format", "platform", "tool_name", "tool_param", "tool_value", "overall",
    "query_correct", "query_total", "profile_correct", "profile_total",
)  # fmt: skip


def bootstrap_intervals(
    results: Sequence[SampleResult],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, list[float] | None]]:
    """`{split: {metric: [low, high] | None}}` including `overall`; {} when resamples is 0."""
    if resamples <= 0 or not results:
        return {}
    rng = np.random.default_rng(seed)
    by_split: dict[str, list[SampleResult]] = {}
    for r in results:
        by_split.setdefault(r.split, []).append(r)
    replicates = {s: _replicate_split(rs, resamples, rng) for s, rs in by_split.items()}
    counts = {s: len(rs) for s, rs in by_split.items()}
    replicates[OVERALL] = _weighted_overall(replicates, counts)
    alpha = (1 - confidence) / 2
    return {s: _percentiles(reps, alpha) for s, reps in replicates.items()}


def _replicate_split(
    results: Sequence[SampleResult], resamples: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    values = np.array([[float(getattr(r, c)) for c in _COLUMNS] for r in results])
    n = len(results)
    totals = np.empty((resamples, len(_COLUMNS)))
    for lo in range(0, resamples, _CHUNK):
        hi = min(lo + _CHUNK, resamples)
        draws = rng.integers(0, n, size=(hi - lo, n))
        weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)
        totals[lo:hi] = weights @ values
    col = {c: totals[:, i] for i, c in enumerate(_COLUMNS)}
    out: dict[str, np.ndarray] = {}
    for key in METRIC_KEYS:
        if key in RATIO_LEVEL:
            num, den = RATIO_LEVEL[key]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[key] = col[num] / col[den]  # NaN where a replicate has no such params
        else:
            out[key] = col[key] / n
    return out


def _weighted_overall(
    replicates: dict[str, dict[str, np.ndarray]], counts: dict[str, int]
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key in METRIC_KEYS:
        stacked = np.stack([replicates[s][key] for s in counts])
        weights = np.array([counts[s] for s in counts], dtype=np.float64)[:, None]
        present = ~np.isnan(stacked)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[key] = np.where(present, stacked * weights, 0).sum(0) / (present * weights).sum(0)
    return out


def _percentiles(reps: dict[str, np.ndarray], alpha: float) -> dict[str, list[float] | None]:
    out: dict[str, list[float] | None] = {}
    for key, values in reps.items():
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            out[key] = None
        else:
            low, high = np.quantile(finite, [alpha, 1 - alpha])
            out[key] = [round(float(low), 6), round(float(high), 6)]
    return out
