"""Python's cyclic garbage collector, paused around bulk work that makes many objects and no
reference cycles (loading a benchmark's JSON into models; scoring, which keeps a record per
sample): each collector pass would walk every one of them again for nothing. Reference counting
still frees everything; the collector is restarted after, also on errors."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (a no-op when it is already paused)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
