"""`--limit N`: a seeded sample of N samples, stratified by split.

Each split gets a share of N proportional to its size (largest remainder for the leftover
places, ties to the split seen first); within a split the samples are drawn at random with the
run's --seed; the chosen samples keep the benchmark's order. So a limited run sees every split
of a mixed benchmark, and the same command (or a resume, report or compare of the run) selects
the same samples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from pertool.schema import Sample

__all__ = ["limit_samples"]

S = TypeVar("S", bound=Sample)


def limit_samples(samples: Sequence[S], limit: int | None, seed: int) -> list[S]:
    if limit is None or limit >= len(samples):
        return list(samples)
    by_split: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_split.setdefault(sample.split, []).append(i)
    quotas = _proportional(limit, {split: len(ix) for split, ix in by_split.items()})
    rng = random.Random(seed)
    chosen: list[int] = []
    for split, indices in by_split.items():  # one stream, splits in first-seen order
        chosen += rng.sample(indices, quotas[split])
    return [samples[i] for i in sorted(chosen)]


def _proportional(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split `total` places over groups in proportion to `sizes` (largest remainder)."""
    n = sum(sizes.values())
    exact = {k: total * size / n for k, size in sizes.items()}
    quotas = {k: int(v) for k, v in exact.items()}
    order = sorted(sizes, key=lambda k: -(exact[k] - quotas[k]))  # stable: first seen wins ties
    for k in order[: total - sum(quotas.values())]:
        quotas[k] += 1
    return quotas
