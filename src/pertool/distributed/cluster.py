"""Where the replicas run and what each holds (`RaySettings`); joining or starting Ray is
`pertool.models.ray_session`'s (shared with the vllm-batch/ backend), re-exported here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pertool.errors import PertoolError
from pertool.models.ray_session import connect, disconnect, import_ray

__all__ = ["RaySettings", "connect", "disconnect", "import_ray"]


@dataclass(frozen=True)
class RaySettings:
    """Where the replicas run and what each one holds. `address`: None starts a local Ray with
    the machine's resources; "auto" joins RAY_ADDRESS or the cluster running here; else
    HOST:PORT (or ray://HOST:PORT) of a cluster's head. `replica_cpus`/`replica_gpus`: Ray
    resources reserved per replica actor (`held()` says what Ray holds when one is left out).
    `request_timeout_s`: the longest one request may take on a replica before the replica counts
    as stuck (killed and replaced, the request sent again); None: from the model options."""

    address: str | None = None
    replicas: int = 1
    replica_cpus: float | None = None
    replica_gpus: float | None = None
    request_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise PertoolError(f"--replicas must be at least 1, not {self.replicas}")
        for name in ("replica_cpus", "replica_gpus"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # `not >=` also refuses NaN
                raise PertoolError(f"--{name.replace('_', '-')} must be 0 or more, not {value}")
        if self.request_timeout_s is not None and not self.request_timeout_s > 0:
            raise PertoolError(f"the request timeout must be above 0 s, not {self.request_timeout_s}")

    def held(self) -> dict[str, float]:
        """What Ray holds for one replica actor for its lifetime. With no resource given, Ray
        holds none (it needs 1 CPU free only to place the actor); once any is given (GPUs
        alone included), it holds 1 CPU unless --replica-cpus says otherwise (ray/actor.py)."""
        if self.replica_cpus is None and self.replica_gpus is None:
            return {"CPU": 0.0, "GPU": 0.0}
        cpus = 1.0 if self.replica_cpus is None else self.replica_cpus
        return {"CPU": cpus, "GPU": self.replica_gpus or 0.0}

    def shortfall(self, have: Mapping[str, float]) -> str | None:
        """What the replicas together need and `have` (a cluster's resources) lacks, in words;
        None when they fit."""
        held = self.held()
        for key, option in (("CPU", "--replica-cpus"), ("GPU", "--replica-gpus")):
            need, there = self.replicas * held[key], float(have.get(key, 0))
            if need > there:
                given = (f"{option} {held[key]:g}" if getattr(self, option[2:].replace("-", "_")) is not None
                         else f"{held[key]:g} {key} each (Ray's default with --replica-gpus)")  # fmt: skip
                return f"--replicas {self.replicas} x {given} = {need:g} {key}s; the cluster has {there:g}"
        if not have.get("CPU", 0) >= 1 and not held["CPU"]:
            return "Ray needs 1 free CPU to place each replica; the cluster has none"
        return None
