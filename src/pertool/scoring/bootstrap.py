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

Clusters. Samples that are not independent (PEToolBench poses one entry in all three settings)
are drawn together: `bootstrap_samples` takes each sample's cluster key (the kind's
`cluster_key`) and, when some cluster holds more than one sample, each replicate draws whole
clusters with replacement (one multinomial draw over the clusters) and weighs every sample of a
cluster, in every split, by how often its cluster was drawn; each split's column sums its own
rows under those weights. When every sample is its own cluster it is `bootstrap_counts` above,
number for number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import COUNT_COLUMNS, OVERALL, SampleResult, metrics_from_counts

__all__ = ["bootstrap_counts", "bootstrap_intervals", "bootstrap_samples", "bootstrap_totals",
           "cluster_weights", "DEFAULT_RESAMPLES"]

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


def bootstrap_samples(
    rows: Sequence[Sequence[Any]],
    splits: Sequence[str],
    clusters: Sequence[str],
    metrics: CountMetrics,
    *,
    width: int,
    split_names: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    overall: bool = True,
    confidence: float = 0.95,
) -> dict[str, dict[str, list[float] | None]]:
    """Intervals of per-sample count rows (`rows[i]` of split `splits[i]`, drawn with the samples
    of cluster `clusters[i]`), shaped as `bootstrap_counts`'s. `split_names`: the splits in
    column order (default: as they first occur; one without rows sums to zeros). Every sample
    its own cluster: `bootstrap_counts`. Else one generator seeded with `seed` draws the clusters
    (in order of first occurrence) for every split and the overall column at once."""
    names = list(split_names) if split_names is not None else list(dict.fromkeys(splits))
    if resamples <= 0 or not names:
        return {}
    order: dict[str, int] = {}
    for key in clusters:
        order.setdefault(key, len(order))
    if len(order) == len(clusters):  # independent samples: the per-split draw
        by_split: dict[str, list[Sequence[Any]]] = {name: [] for name in names}
        for split, row in zip(splits, rows):
            by_split[split].append(row)
        return bootstrap_counts(by_split, metrics, width=width, resamples=resamples, seed=seed,
                                overall=overall, confidence=confidence)  # fmt: skip
    # One matrix per split: the summed rows of each cluster's samples in that split.
    matrix = np.zeros((len(names), len(order), width))
    column = {name: k for k, name in enumerate(names)}
    for split, key, row in zip(splits, clusters, rows):
        matrix[column[split], order[key]] += np.asarray(row, dtype=np.float64)
    totals = np.empty((resamples, len(names), width))
    for start, weights in cluster_weights(np.random.default_rng(seed), len(order), resamples):
        totals[start : start + len(weights)] = (weights @ matrix).transpose(1, 0, 2)
    alpha = (1 - confidence) / 2
    out: dict[str, dict[str, list[float] | None]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, name in enumerate(names):
            out[name] = _percentiles(metrics(totals[:, k : k + 1], [name]), alpha)
        if overall:
            out[OVERALL] = _percentiles(metrics(totals, names), alpha)
    return out


def cluster_weights(rng: np.random.Generator, clusters: int, resamples: int,
                    chunk: int = 256) -> Iterator[tuple[int, np.ndarray]]:  # fmt: skip
    """(first replicate, weights [replicates, clusters]) in chunks: how often each cluster is drawn
    when `clusters` clusters are drawn with replacement, one multinomial draw per replicate (the
    same stream as one draw of all the replicates at once, chunked to bound the memory)."""
    uniform = np.full(clusters, 1 / clusters)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        yield start, rng.multinomial(clusters, uniform, size=size).astype(np.float64)


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
