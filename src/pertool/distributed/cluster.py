"""Joining or starting Ray, and leaving it as found.

`ray` is an optional extra: importing it goes through `import_ray`, which turns its absence into
one line with the install command. A driver that starts Ray itself (no address) shuts it down
on close; one that joins a cluster only disconnects (ray.shutdown on a connected driver stops
nothing on the cluster), and one that finds Ray already initialized in its process leaves it be.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any

from pertool.errors import MissingDependency, PertoolError

__all__ = ["RaySettings", "connect", "disconnect", "import_ray"]


@dataclass(frozen=True)
class RaySettings:
    """Where the replicas run and what each one holds. `address`: None starts a local Ray with
    the machine's resources; "auto" joins RAY_ADDRESS or the cluster running here; else
    HOST:PORT (or ray://HOST:PORT) of a cluster's head. `replica_cpus`/`replica_gpus`: Ray
    resources reserved per replica actor (None: Ray's default, 1 CPU to place it, none held)."""

    address: str | None = None
    replicas: int = 1
    replica_cpus: float | None = None
    replica_gpus: float | None = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise PertoolError(f"--replicas must be at least 1, not {self.replicas}")
        for name in ("replica_cpus", "replica_gpus"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # `not >=` also refuses NaN
                raise PertoolError(f"--{name.replace('_', '-')} must be 0 or more, not {value}")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency("--executor ray", "ray") from None
    return ray


def connect(address: str | None) -> bool:
    """Make this process a Ray driver; True when this call started (or joined) Ray and so must
    shut it down, False when Ray was already initialized here."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    # ray.init takes over SIGTERM (it exits 15 with a stack dump): pertool's own handler, the
    # Ctrl-C path that saves the run and prints the resume command, is put back.
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:  # "local": a new local instance even when RAY_ADDRESS is set
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
