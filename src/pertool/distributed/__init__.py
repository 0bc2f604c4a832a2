"""Model replicas on a Ray cluster: `RayPool`, a backend whose requests run on Ray actors that
each own a copy of the real backend (`pertool eval --executor ray`, `pertool synth run
--executor ray`). The driver keeps everything else: run directory, cache, locks, progress."""

from __future__ import annotations

from pertool.distributed.cluster import RaySettings
from pertool.distributed.pool import RayPool

__all__ = ["RayPool", "RaySettings"]
