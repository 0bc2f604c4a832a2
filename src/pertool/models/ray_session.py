"""Joining or starting Ray from this process, and leaving it as found: shared by the Ray
executor (`pertool.distributed`) and the `vllm-batch/` backend, which both make the process a
Ray driver.

`ray` is an optional extra: importing it goes through `import_ray`, which turns its absence into
one line with the install command. A driver that starts Ray itself (no address) shuts it down
on close; one that joins a cluster only disconnects (ray.shutdown on a connected driver stops
nothing on the cluster), and one that finds Ray already initialized in its process leaves it be.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from pertool.errors import MissingDependency, PertoolError

__all__ = ["connect", "disconnect", "import_ray"]


def import_ray(what: str = "--executor ray") -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency(what, "ray") from None
    return ray


def connect(address: str | None, what: str = "--executor ray") -> bool:
    """Make this process a Ray driver; True when this call started (or joined) Ray and so must
    shut it down, False when Ray was already initialized here. `address` None: a new local Ray
    instance (even when RAY_ADDRESS is set); "auto": RAY_ADDRESS or the cluster running here."""
    ray = import_ray(what)
    if ray.is_initialized():
        return False
    # ray.init takes over SIGTERM (it exits 15 with a stack dump): pertool's own handler, the
    # Ctrl-C path that saves the run and prints the resume command, is put back.
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)  # fmt: skip
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise PertoolError(f"could not start or join {where}: {str(exc).splitlines()[0][:300]}") from None
    finally:
        if threading.current_thread() is threading.main_thread() and on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)
    return True


def disconnect(started: bool) -> None:
    if started:
        import_ray().shutdown()
