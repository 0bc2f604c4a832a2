"""95% percentile-bootstrap intervals for every metric, seeded and reproducible.

Every metric is a function of summed per-sample count rows (the kind's `metrics_from_counts`),
so one bootstrap serves every benchmark: samples are resampled with replacement within each
split (the splits are fixed by design), the resampled rows are summed per split, and the metric
function maps those sums to each replicate's values; the overall column stacks the resampled
splits (PTBench weighs them by their fixed sizes, ToolSpectrum pools them).

Resampling n rows with replacement only matters through how many times each distinct row is
drawn, and those counts follow a multinomial distribution. So each replicate is one multinomial
draw over the distinct rows of a split (a handful for 0/1 outcomes): the same distribution as
drawing indices, at a cost independent of n.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import COUNT_COLUMNS, OVERALL, SampleResult, metrics_from_counts

__all__ = ["bootstrap_counts", "bootstrap_intervals", "bootstrap_totals", "DEFAULT_RESAMPLES"]

# summed rows [..., splits, columns] and the split names -> metric arrays (NaN where undefined)
CountMetrics = Callable[[np.ndarray, Sequence[str]], Mapping[str, np.ndarray]]


def bootstrap_counts(
    rows_by_split: Mapping[str, Sequence[Sequence[Any]]],
    metrics: CountMetrics,
    *,
    width: int,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    overall: bool = True,
    confidence: float = 0.95,
) -> dict[str, dict[str, list[float] | None]]:
    """`{split: {metric: [low, high] | None}}`, plus `overall` (all splits together) when asked;
    {} when resamples is 0. Each split draws from its own generator seeded with `seed`, and the
    overall column from one more, drawing the splits in order (so a single split's overall
    interval is its own)."""
    if resamples <= 0 or not rows_by_split:
        return {}
    alpha = (1 - confidence) / 2
    out: dict[str, dict[str, list[float] | None]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for split, rows in rows_by_split.items():
            totals = _draw(np.random.default_rng(seed), rows, resamples, width)
            out[split] = _percentiles(metrics(totals[:, None, :], [split]), alpha)
        if overall:
            rng = np.random.default_rng(seed)
            drawn = [_draw(rng, rows, resamples, width) for rows in rows_by_split.values()]
            stacked = np.stack(drawn, axis=-2)
            out[OVERALL] = _percentiles(metrics(stacked, list(rows_by_split)), alpha)
    return out


def _draw(rng: np.random.Generator, rows: Sequence[Sequence[Any]], resamples: int, width: int) -> np.ndarray:
    """Summed rows of `resamples` bootstrap replicates of one split: shape [resamples, width]."""
    if not rows:
        return np.zeros((resamples, width))
    table = Counter(map(tuple, rows))
    values = np.array(list(table), dtype=np.float64).reshape(len(table), width)
    freqs = np.array(list(table.values()), dtype=np.float64) / len(rows)
    return rng.multinomial(len(rows), freqs, size=resamples).astype(np.float64) @ values


def bootstrap_intervals(
    results: Sequence[SampleResult],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    rows: Sequence[tuple[int, ...]] | None = None,
) -> dict[str, dict[str, list[float] | None]]:
    """PTBench-shaped results' intervals, `overall` included (their count rows, bootstrapped;
    `rows`: those rows when already made)."""
    if resamples <= 0 or not results:
        return {}
    rows = [r.count_row() for r in results] if rows is None else rows
    by_split: dict[str, list[tuple[int, ...]]] = {}
    for r, row in zip(results, rows):
        by_split.setdefault(r.split, []).append(row)
    return bootstrap_counts(by_split, metrics_from_counts, width=len(COUNT_COLUMNS), resamples=resamples,
                            seed=seed, confidence=confidence)  # fmt: skip


def _percentiles(reps: Mapping[str, np.ndarray], alpha: float) -> dict[str, list[float] | None]:
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
        totals[split] = _draw(rng, rows, resamples, len(rows[0]))
    if overall and len(totals) > 1:
        totals[OVERALL] = sum(totals.values())  # type: ignore[assignment]
    alpha = (1 - 0.95) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return {split: _percentiles(metrics(t), alpha) for split, t in totals.items()}
