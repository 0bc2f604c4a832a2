"""`--log-to mlflow[:URI]|wandb` of eval, ablate and `train lora`: the option, and its targets
checked (known tracker, package installed) before anything runs."""

from __future__ import annotations

import argparse
from typing import Any

LOG_TO_HELP = ("after the run, log its config, metrics with intervals, usage and report to a tracker: "
               "mlflow (the SQLite store ./mlflow.db, or MLFLOW_TRACKING_URI), mlflow:URI (any tracking URI, "
               "e.g. sqlite:///runs/mlflow.db or http://host:5000) or wandb (WANDB_PROJECT, default pertool; "
               "WANDB_MODE=offline needs no key); repeat it or give a comma list. Extras `mlflow`, "
               "`wandb`")  # fmt: skip


def add_log_to(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-to", action="append", metavar="TRACKER", help=LOG_TO_HELP)


def log_targets(args: argparse.Namespace) -> list[Any]:
    """The `--log-to` targets; raises PertoolError (one line, exit 2) for an unknown tracker or a
    missing package, before the run starts."""
    if not getattr(args, "log_to", None):
        return []
    from pertool.tracking.targets import check_installed, parse_targets

    targets = parse_targets(args.log_to)
    check_installed(targets)
    return targets
