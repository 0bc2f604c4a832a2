"""Maximum bipartite matching (Kuhn's augmenting paths), for order-free comparisons.

Greedy pairing is wrong when "equal" is not transitive (accepted-value lists, "20" == 20 ==
"20.0" but "20" != "20.0"), so list values and repeated calls are paired with this instead.
Sizes here are tiny (a handful of calls or list items), so the O(V*E) algorithm is plenty.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["max_matching"]


def max_matching(edges: Sequence[Sequence[int]], n_right: int) -> list[int | None]:
    """`edges[i]` lists the right nodes left node i may pair with; returns, per right node, the
    left node paired with it (or None). The matching has maximum size."""
    owner: list[int | None] = [None] * n_right

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            current = owner[j]
            if current is None or augment(current, seen):
                owner[j] = i
                return True
        return False

    for i in range(len(edges)):
        augment(i, set())
    return owner
