"""Ask a backend once, from synchronous test code: one request, then the backend is closed
whatever happens (so no client connection outlives the test)."""

from __future__ import annotations

import asyncio

from pertool.models.base import Backend, Completion, Request

__all__ = ["HELLO", "complete_once"]

HELLO = Request(messages=({"role": "user", "content": "hi"},))


def complete_once(backend: Backend, request: Request = HELLO) -> Completion:
    """`backend.complete(request)` in its own event loop; its errors propagate."""

    async def go() -> Completion:
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())
