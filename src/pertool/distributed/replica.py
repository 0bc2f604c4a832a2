"""The replica actor: one copy of the real backend, built on its worker from the model spec
(`pertool.answerers.create_model`), answering requests concurrently (async actor methods).

Nothing here raises into Ray: a failure to build the backend, or a request's error, comes back
as a value, so the driver re-raises the backend's own error (one line, `fatal` and all) rather
than Ray's wrapped traceback. Ray's own errors then mean one thing only: the replica is gone.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from typing import Any

from pertool.errors import BackendError, MissingCredential, PertoolError
from pertool.models.base import Request
from pertool.models.registry import ModelOptions
from pertool.schema import Sample

__all__ = ["Replica", "portable"]


class Replica:
    """Wrapped by `ray.remote` in the pool (this module imports without Ray)."""

    def __init__(self, spec: str, options: ModelOptions, samples: Sequence[Sample]):
        from pertool.answerers import create_model

        self.backend: Any = None
        self.error: BaseException | None = None
        try:
            self.backend = create_model(spec, options, samples)
        except MissingCredential as exc:  # the variable may well be set where the driver runs
            self.error = PertoolError(f"on the Ray replica's node ({_host()}): {exc}")
        except Exception as exc:  # noqa: BLE001 - reported by describe(), as the driver would raise it
            self.error = portable(exc)

    def describe(self) -> dict[str, Any]:
        """What the driver needs to stand in for the backend, or the error that built none."""
        if self.error is not None:
            return {"error": self.error}
        backend = self.backend
        return {"identity": backend.identity(), "name": backend.name, "model": backend.model,
                "context_window": getattr(backend, "context_window", None), "pid": os.getpid(),
                "cacheable": bool(getattr(backend, "cacheable", True)),
                "deadline_s": getattr(backend, "deadline_s", None), "node": _node_id()}  # fmt: skip

    def pid(self) -> int:
        return os.getpid()

    async def complete(self, request: Request) -> dict[str, Any]:
        """{"completion": ...} or {"error": ...}, with this replica's retries so far."""
        try:
            out: dict[str, Any] = {"completion": await self.backend.complete(request)}
        except Exception as exc:  # noqa: BLE001 - the driver raises it, as a local backend would
            out = {"error": portable(exc)}
        out["retries"] = getattr(self.backend, "retries", 0)
        out["last_retry_reason"] = getattr(self.backend, "last_retry_reason", "")
        return out

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def _host() -> str:
    import socket

    return socket.gethostname()


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling unchanged in kind, else a BackendError with its message."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc):
            return exc
    except Exception:  # noqa: BLE001, S110 - any exception type may refuse pickling
        pass
    message = str(exc)
    if isinstance(exc, BackendError):
        return BackendError(message, retryable=exc.retryable, fatal=exc.fatal)
    if isinstance(exc, PertoolError):  # its one-line message is what the user sees
        return PertoolError(message)
    return BackendError(f"{type(exc).__name__}: {message.splitlines()[0][:300] if message else ''}")
