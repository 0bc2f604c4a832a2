"""Logging a finished run to every `--log-to` target.

Called once the run's files are written: everything logged is read back from the run directory
(config.json, metrics.json, training.json) and the report is rendered into a temporary directory,
so logging never writes to the run directory. A tracker that fails is one warning line on stderr;
the command still succeeds and the other targets are still logged."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pertool.fileio import read_json
from pertool.tracking.figures import (
    eval_metrics,
    flat_params,
    loss_steps,
    training_metrics,
    training_params,
)
from pertool.tracking.targets import Target
from pertool.tracking.tracker import Tracker
from pertool.urls import scrub, url_secrets

__all__ = ["log_ablation", "log_eval", "log_training", "open_tracker"]


def open_tracker(target: Target) -> Tracker:
    if target.kind == "mlflow":
        from pertool.tracking.mlflow_tracker import MlflowTracker

        return MlflowTracker(target.uri)
    from pertool.tracking.wandb_tracker import WandbTracker

    return WandbTracker()


def log_eval(targets: Sequence[Target], run_dir: Path, *, command: str = "eval", group: str | None = None,
             run_name: str | None = None, data_dir: str | None = None) -> None:  # fmt: skip
    """One tracked run per target for the eval run in `run_dir`: config.json as params, metrics.json
    as metrics, metrics.json and the HTML report as artifacts."""
    if not targets:
        return
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory(prefix="pertool-track-") as tmp:

        def job(tracker: Tracker) -> None:
            config = read_json(run_dir / "config.json")
            metrics = read_json(run_dir / "metrics.json")
            tags = {"pertool.command": command, "pertool.run_dir": str(run_dir.resolve()),
                    "pertool.model": str(config.get("model")),
                    "pertool.benchmark": str(config.get("benchmark"))}  # fmt: skip
            tracker.start(run_name or run_dir.name, flat_params(config), group=group, tags=tags)
            tracker.log_metrics(eval_metrics(metrics))
            tracker.log_artifact(run_dir / "metrics.json")
            tracker.log_artifact(_report(run_dir, Path(tmp), data_dir))

        _each(targets, job, what=f"run {run_dir}")


def log_ablation(targets: Sequence[Target], out: Path, conditions: Sequence[tuple[str, Path]], *,
                 data_dir: str | None = None) -> None:  # fmt: skip
    """One tracked run per condition (`<out name>/<condition>`), grouped by the ablation's
    directory name: a W&B group, an MLflow tag `pertool.group`."""
    group = Path(out).name
    for condition, path in conditions:
        log_eval(targets, path, command="ablate", group=group, run_name=f"{group}/{condition}",
                 data_dir=data_dir)  # fmt: skip


def log_training(targets: Sequence[Target], out: Path, result: Mapping[str, Any]) -> None:
    """One tracked run per target for `train lora`: its settings as params, the loss of every
    logged step as the series `train/loss`, the final figures, training.json and the loss log."""
    out = Path(out)

    def job(tracker: Tracker) -> None:
        tags = {"pertool.command": "train lora", "pertool.out": str(out.resolve())}
        tracker.start(out.name, training_params(result), tags=tags)
        for step, loss in loss_steps(result):
            tracker.log_metrics({"train/loss": loss}, step=step)
        tracker.log_metrics(training_metrics(result))
        for name in ("training.json", "loss_log.jsonl"):
            if (out / name).is_file():
                tracker.log_artifact(out / name)

    _each(targets, job, what=f"training {out}")


def _each(targets: Sequence[Target], job: Callable[[Tracker], None], *, what: str) -> None:
    for target in targets:
        tracker: Tracker | None = None
        try:
            tracker = open_tracker(target)
            job(tracker)
            tracker.finish()
        except Exception as exc:  # any tracker failure: the run is done and kept, say so in one line
            if tracker is not None:
                try:
                    tracker.finish(ok=False)
                except Exception:
                    pass  # the first error is the one worth reporting
            print(f"pertool: warning: could not log {what} to {target.label()}: {_one_line(exc, target)} "
                  "(the run directory is complete and unchanged)", file=sys.stderr)  # fmt: skip


def _one_line(exc: BaseException, target: Target) -> str:
    """The error as one line of at most 300 characters, the target URI's credentials masked."""
    text = scrub(" ".join(str(exc).split()) or type(exc).__name__, url_secrets(target.uri))
    return text if len(text) <= 300 else text[:297] + "..."


def _report(run_dir: Path, tmp: Path, data_dir: str | None) -> Path:
    """The run's HTML report (as `pertool report` renders it), written into `tmp`, once."""
    path = tmp / f"{run_dir.name}" / "report.html"
    if not path.is_file():
        from pertool.report.html import write_report

        write_report([run_dir], path, data_dir=data_dir)
    return path
