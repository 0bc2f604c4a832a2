"""`--log-to` values: `mlflow`, `mlflow:URI`, `wandb`; repeatable or a comma list. Each tracker's
package is checked before the run starts, so a missing one costs nothing."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pertool.errors import MissingDependency, PertoolError
from pertool.urls import redact_url, url_secrets

__all__ = ["KNOWN", "Target", "check_installed", "parse_targets"]

KNOWN = ("mlflow", "wandb")
_NAMED = re.compile(r"\s*(?:mlflow|wandb)\s*(?::|$)")  # a piece that starts a new value


@dataclass(frozen=True)
class Target:
    kind: str  # "mlflow" or "wandb"
    uri: str | None = None  # mlflow's tracking URI; None: MLFLOW_TRACKING_URI, else the default store

    def label(self) -> str:
        """How messages name it: the URI without credentials."""
        if not self.uri:
            return self.kind
        # masked only when it holds credentials: redaction rewrites `sqlite:////abs` as `sqlite://abs`
        return f"{self.kind}:{redact_url(self.uri) if any(url_secrets(self.uri)) else self.uri}"


def parse_targets(values: Sequence[str] | None) -> list[Target]:
    """The targets of every `--log-to` value (each may be a comma list), in order, without repeats."""
    targets: list[Target] = []
    for value in values or ():
        for piece in _pieces(value):
            target = _target(piece.strip(), value)
            if target not in targets:
                targets.append(target)
    return targets


def _pieces(value: str) -> list[str]:
    """`value` split at commas, except a comma inside an mlflow URI: a piece that names no tracker
    continues the URI before it (`mlflow:sqlite:///a,b.db`)."""
    pieces: list[str] = []
    for piece in value.split(","):
        if pieces and pieces[-1].strip().startswith("mlflow:") and not _NAMED.match(piece):
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    return pieces


def _target(piece: str, value: str) -> Target:
    name, colon, uri = piece.partition(":")
    if name not in KNOWN:
        raise PertoolError(f"--log-to {value}: unknown tracker {piece!r}; use mlflow, mlflow:URI or wandb")
    if name == "wandb" and colon:
        raise PertoolError(f"--log-to {value}: wandb takes no URI; set WANDB_PROJECT, WANDB_ENTITY or "
                           "WANDB_MODE=offline instead")  # fmt: skip
    if colon and not uri.strip():
        raise PertoolError(f"--log-to {value}: mlflow: needs a tracking URI after the colon "
                           "(e.g. mlflow:sqlite:///mlflow.db), or none at all")  # fmt: skip
    return Target(name, uri.strip() or None)


def check_installed(targets: Sequence[Target]) -> None:
    """Raise MissingDependency (the install command, one line) for a tracker not installed."""
    for target in targets:
        if not _installed(target.kind):
            raise MissingDependency(f"--log-to {target.kind}", target.kind)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked package counts as missing
        return False
