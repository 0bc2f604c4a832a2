"""`CachedCalls`: the one way pertool asks a model, for `pertool eval` and for synthesis.

The response cache is looked up by the request's key (backend identity and the whole request,
never a secret: see cache.py); on a miss the backend is asked, within the concurrency bound the
caller chose, and the answer stored; every answer is counted in a `Usage`. The caller may say
whether an answer is usable (`keep`, e.g. "its record was written"): only a usable answer is
stored, and a cached one that is no longer usable is forgotten and asked again, so a bad answer
is never replayed into every resume. Backend errors (`BackendError`, `ContextOverflow`) reach
the caller untouched: what a failure means is the caller's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from pertool.modelcalls.cache import ResponseCache, cache_key
from pertool.modelcalls.usage import Usage
from pertool.models.base import Backend, Completion, Request

__all__ = ["CachedCalls", "Unusable", "open_cache"]

# Given an answer: None when it is usable, else why it is not.
Keep = Callable[[Completion], str | None]


class Unusable(Exception):
    """A fresh answer the caller's `keep` refused (it was counted, and not cached)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def open_cache(backend: Backend, use_cache: bool = True) -> ResponseCache | None:
    """The response cache for `backend`, or None: not wanted, or a backend whose answers come
    from the data itself (`cacheable = False`: a cache could only go stale)."""
    return ResponseCache() if use_cache and getattr(backend, "cacheable", True) else None


class CachedCalls:
    def __init__(self, backend: Backend, cache: ResponseCache | None, *,
                 prices: Mapping[str, float] | None = None, concurrency: int | None = None):  # fmt: skip
        """`concurrency`: at most this many backend calls at once (cache hits are not held
        back); None when the caller bounds its own work."""
        self.backend, self.cache, self.prices = backend, cache, prices
        self.usage = Usage()  # every answer through this object, unless `complete` is given another
        self._gate: Any = asyncio.Semaphore(max(1, concurrency)) if concurrency else nullcontext()

    def in_cache(self, request: Request) -> bool:
        """Whether `request` would be answered from the cache (nothing is counted)."""
        return self._lookup(self._key(request)) is not None

    async def complete(self, request: Request, *, usage: Usage | None = None,
                       keep: Keep | None = None) -> Completion:  # fmt: skip
        """The answer to `request`, from the cache or else from the backend, counted in `usage`
        (default: `self.usage`). Raises `Unusable` for a fresh answer that `keep` refused, and
        whatever the backend raises."""
        usage = self.usage if usage is None else usage
        key = self._key(request)
        cached = self._lookup(key)
        if cached is not None:
            if keep is None or keep(cached) is None:
                usage.add(cached, self.prices)
                return cached
            self._forget(key)  # from an older version, no longer usable: asked again
        async with self._gate:
            completion = await self.backend.complete(request)
        usage.add(completion, self.prices)  # paid for, whether usable or not
        problem = keep(completion) if keep is not None else None
        if problem is not None:
            raise Unusable(problem)
        if self.cache is not None:
            self.cache.put(key, completion)
        return completion

    def _key(self, request: Request) -> str:
        return cache_key(self.backend.identity(), request) if self.cache is not None else ""

    def _lookup(self, key: str) -> Completion | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get(key)
        except Exception:  # noqa: BLE001 - a damaged entry is a miss, asked again
            self._forget(key)
            return None

    def _forget(self, key: str) -> None:
        if self.cache is not None:
            self.cache.delete(key)
