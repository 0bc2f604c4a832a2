"""k-fold assignment by groups (a shared context), seeded and independent of gold."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

__all__ = ["assign_folds"]


def assign_folds(ids: Iterable[str], k: int = 5, seed: int = 0,
                 groups: Mapping[str, str] | None = None) -> dict[str, int]:  # fmt: skip
    """Sample id -> fold in 0..k-1: groups (default: each id alone) ordered by a seeded hash,
    then dealt round-robin, so a group's samples share a fold.

    Deterministic, and independent of everything but the ids and groups (never of gold)."""
    if k < 2:
        raise ValueError("k-fold cross-validation needs k >= 2")
    keys = {i: (groups or {}).get(i, i) for i in ids}
    ordered = sorted(set(keys.values()), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    fold_of_group = {g: position % k for position, g in enumerate(ordered)}
    return {sample_id: fold_of_group[key] for sample_id, key in keys.items()}
