"""Run directories written the way `pertool eval` leaves them, from given answers (for report,
compare and browser tests that need runs without running a model)."""

from __future__ import annotations

import json
from pathlib import Path

from pertool.runner.run import EvalConfig, finish, select_samples
from pertool.runner.rundir import RunDir

__all__ = ["write_run"]


def write_run(path: Path, config: EvalConfig, outputs: dict[str, str]) -> Path:
    """A run directory as `pertool eval` leaves it, with these answers."""
    run = RunDir.create(path, config.model_dump(mode="json"))
    samples = select_samples(config)
    finished = {s.id: {"id": s.id, "output": outputs[s.id]} for s in samples}
    with run.appender("predictions.jsonl") as out:
        out.write("".join(json.dumps(r) + "\n" for r in finished.values()))
    finish(run, config, samples, finished)
    return path
