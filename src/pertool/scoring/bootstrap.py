"""95% percentile-bootstrap intervals for every metric, seeded and reproducible.

Samples are resampled with replacement within each split (the splits are fixed by design) and
the overall column is rebuilt from the resampled splits with the point estimate's weights.

Resampling n samples with replacement only matters through how many times each distinct
per-sample value is drawn, and those counts follow a multinomial distribution. So each replicate
is one multinomial draw over the distinct values of a metric (2 for a 0/1 metric, a handful of
(correct, total) pairs for the parameter accuracies): the same distribution as drawing indices,
at a cost independent of n.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import METRIC_KEYS, OVERALL, RATIO_LEVEL, SampleResult

__all__ = ["bootstrap_intervals", "bootstrap_totals", "DEFAULT_RESAMPLES"]


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
    replicates = {
        split: {key: _replicate(rs, key, resamples, rng) for key in METRIC_KEYS}
        for split, rs in by_split.items()
    }
    counts = {s: len(rs) for s, rs in by_split.items()}
    replicates[OVERALL] = _weighted_overall(replicates, counts)
    alpha = (1 - confidence) / 2
    return {s: _percentiles(reps, alpha) for s, reps in replicates.items()}


def _replicate(
    results: Sequence[SampleResult], key: str, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """`resamples` bootstrap values of one metric on one split (NaN where undefined)."""
    num_field, den_field = RATIO_LEVEL.get(key, (key, None))
    table = Counter(
        (getattr(r, num_field), getattr(r, den_field) if den_field else 1) for r in results
    )
    values = np.array(list(table), dtype=np.float64)  # distinct (numerator, denominator)
    freqs = np.array(list(table.values()), dtype=np.float64) / len(results)
    draws = rng.multinomial(len(results), freqs, size=resamples).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (draws @ values[:, 0]) / (draws @ values[:, 1])


def _weighted_overall(
    replicates: dict[str, dict[str, np.ndarray]], counts: dict[str, int]
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    weights = np.array([counts[s] for s in counts], dtype=np.float64)[:, None]
    for key in METRIC_KEYS:
        stacked = np.stack([replicates[s][key] for s in counts])
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
            out[key] = [float(low), float(high)]  # full precision; tables round for display
    return out


def bootstrap_totals(
    rows_by_split: Mapping[str, Sequence[tuple[Any, ...]]],
    metrics: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    overall: bool = True,
) -> dict[str, dict[str, list[float] | None]]:
    """Intervals for metrics computed from summed per-sample count rows (F1 and the like).

    Each split is resampled on its own (the multinomial draw over its distinct rows, as above);
    `metrics` maps summed totals, one row per replicate, to metric arrays. The overall interval
    sums the resampled splits' totals.
    """
    if resamples <= 0 or not rows_by_split:
        return {}
    rng = np.random.default_rng(seed)
    totals: dict[str, np.ndarray] = {}
    for split, rows in rows_by_split.items():
        table = Counter(rows)
        values = np.array(list(table), dtype=np.float64)
        freqs = np.array(list(table.values()), dtype=np.float64) / len(rows)
        totals[split] = rng.multinomial(len(rows), freqs, size=resamples).astype(np.float64) @ values
    if overall and len(totals) > 1:
        totals[OVERALL] = sum(totals.values())  # type: ignore[assignment]
    alpha = (1 - 0.95) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return {split: _percentiles(metrics(t), alpha) for split, t in totals.items()}
