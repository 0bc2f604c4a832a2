"""Weights & Biases: the project is WANDB_PROJECT (default `pertool`), the entity WANDB_ENTITY;
WANDB_MODE=offline writes the run under WANDB_DIR (no key needed; `wandb sync` uploads it later).

A run's files are one artifact of type `pertool-run` (named after the run), logged at `finish`:
the artifact copies each file when it is added, so a file from a temporary directory survives."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PROJECT", "WandbTracker"]

DEFAULT_PROJECT = "pertool"
_INIT_TIMEOUT_S = 60.0  # bound on reaching W&B (wandb's own default is 90 s)
_ARTIFACT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class WandbTracker:
    def __init__(self) -> None:
        self._run: Any = None
        self._artifact: Any = None

    def start(self, run_name: str, params: Mapping[str, str], *, group: str | None = None,
              tags: Mapping[str, str] | None = None) -> None:  # fmt: skip
        import wandb

        # No system metadata: it records the command line, and --base-url's credentials with it.
        settings = wandb.Settings(silent=True, console="off", save_code=False, disable_git=True,
                                  init_timeout=_INIT_TIMEOUT_S, x_disable_stats=True,
                                  x_disable_meta=True)  # fmt: skip
        config = {**params, **{k: v for k, v in (tags or {}).items()}}
        command = (tags or {}).get("pertool.command")
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT, name=run_name,
                               group=group, config=config, tags=[command] if command else None,
                               job_type=command, reinit="create_new", settings=settings)  # fmt: skip
        name = _ARTIFACT_NAME.sub("-", run_name).strip("-.") or "run"
        self._artifact = wandb.Artifact(name=f"{name}-{self._run.id}", type="pertool-run")

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        run = self._require_run()
        if step is None:  # the run's final figures: its summary
            run.summary.update(dict(metrics))
        else:
            run.log(dict(metrics), step=step)

    def log_artifact(self, path: Path) -> None:
        self._require_run()
        self._artifact.add_file(str(path), name=path.name)

    def finish(self, *, ok: bool = True) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        try:
            if ok and self._artifact is not None and self._artifact.manifest.entries:
                run.log_artifact(self._artifact)
        finally:
            run.finish(exit_code=0 if ok else 1)

    def _require_run(self) -> Any:
        if self._run is None:
            raise RuntimeError("no W&B run started")
        return self._run
