"""The order samples are sent in: prompts that share a prefix go one after another.

A server with a prefix cache (llama.cpp's prompt cache, vLLM's prefix caching) reads a prompt's
shared beginning only once if the prompts that share it arrive together. Sorting the rendered
prompts would group them best, but rendering 1,083 built-in prompts costs about 1.5 s, twice
over since each is rendered again when it is sent; so the key is built from the sample's fields,
in the order the prompts lay them out, which groups them the same way at a fiftieth of the cost:

    PTBench-shaped   system prompt: profile (same user, same text), platforms, tools; then query
    ToolSpectrum     template (one per subset), instruction, persona, environment; toolset last
    PEToolBench      the setting's instruction (history, candidates); then the query

The order changes no result: records are keyed by id and scores never depend on it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pertool.kinds import kind_of
from pertool.schema import Sample

__all__ = ["ORDERS", "Order", "prefix_key", "send_order"]

Order = Literal["prefix", "file", "shuffled"]
ORDERS: tuple[Order, ...] = ("prefix", "file", "shuffled")


def send_order(samples: Sequence[Sample], order: Order, seed: int = 0) -> list[Sample]:
    """`samples` in the order to send them: grouped by shared prompt prefix ("prefix"; ties
    keep the benchmark's order), as the benchmark lists them ("file"), or in a seeded random
    order ("shuffled": the baseline a prefix cache is measured against)."""
    if order == "file":
        return list(samples)
    if order == "shuffled":
        shuffled = list(samples)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    return sorted(samples, key=prefix_key)


def prefix_key(sample: Sample) -> tuple[str, ...]:
    """A sort key whose order follows the rendered prompt's, part by part (the sample's kind
    knows its prompt's layout)."""
    return kind_of(sample).prefix_key(sample)
