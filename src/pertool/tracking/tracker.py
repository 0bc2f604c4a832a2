"""The interface every tracker implements: one tracked run from `start` to `finish`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["Tracker"]


class Tracker(Protocol):
    """One tracker (MLflow, W&B) logging one run at a time.

    `log_metrics` with a `step` logs a series point (training loss per optimizer step); without
    one, the run's final figures (scores, intervals, usage)."""

    def start(self, run_name: str, params: Mapping[str, str], *, group: str | None = None,
              tags: Mapping[str, str] | None = None) -> None: ...  # fmt: skip

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None: ...

    def log_artifact(self, path: Path) -> None: ...

    def finish(self, *, ok: bool = True) -> None: ...
