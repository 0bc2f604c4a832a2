"""MLflow, through its client (no global active run): any tracking URI, a server's the same.

The default store is an embedded SQLite file, `mlflow.db` in the current directory (MLflow's own
default, so `mlflow ui` started there finds it), unless MLFLOW_TRACKING_URI says otherwise; MLflow
3.17+ refuses its old file store, so pertool never picks one. Artifacts of a new experiment in a
SQLite store go to `mlartifacts/` beside the database file, not into whatever directory pertool
runs in. The experiment is MLFLOW_EXPERIMENT_NAME, default `pertool`."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_EXPERIMENT", "MlflowTracker", "default_uri"]

DEFAULT_EXPERIMENT = "pertool"
_PARAM_CHARS = 6000  # MLflow's longest param value
_BATCH = {"metrics": 1000, "params": 100}  # MLflow's log_batch limits
# Bounds on a tracking server that does not answer (MLflow's defaults: 120 s and 7 retries).
_HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}


def default_uri() -> str:
    """MLFLOW_TRACKING_URI, else `sqlite:///<current directory>/mlflow.db`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


class MlflowTracker:
    def __init__(self, uri: str | None):
        self.uri = uri or default_uri()
        if urlsplit(self.uri).scheme in ("http", "https"):  # read by MLflow's REST client; the user's win
            for name, value in _HTTP_BOUNDS.items():
                os.environ.setdefault(name, value)
        # A new database's schema migrations log each step at INFO: stderr keeps pertool's lines.
        for name in ("alembic", "mlflow.store.db.utils"):
            logging.getLogger(name).setLevel(logging.WARNING)
        with _quiet():
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        self._run_id: str | None = None

    def start(self, run_name: str, params: Mapping[str, str], *, group: str | None = None,
              tags: Mapping[str, str] | None = None) -> None:  # fmt: skip
        with _quiet():
            self._start(run_name, params, group, tags)

    def _start(self, run_name: str, params: Mapping[str, str], group: str | None,
               tags: Mapping[str, str] | None) -> None:  # fmt: skip
        from mlflow.entities import Param

        all_tags = {**(tags or {}), **({"pertool.group": group} if group else {})}
        run = self._client.create_run(self._experiment_id(), run_name=run_name, tags=all_tags)
        self._run_id = run.info.run_id
        items = [Param(k, v[:_PARAM_CHARS]) for k, v in params.items()]
        for chunk in _chunks(items, _BATCH["params"]):
            self._client.log_batch(self._run_id, params=chunk)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        with _quiet():
            for chunk in _chunks(items, _BATCH["metrics"]):
                self._client.log_batch(self._require_run(), metrics=chunk)

    def log_artifact(self, path: Path) -> None:
        with _quiet():
            self._client.log_artifact(self._require_run(), str(path))

    def finish(self, *, ok: bool = True) -> None:
        run_id, self._run_id = self._run_id, None
        if run_id is not None:
            with _quiet():
                self._client.set_terminated(run_id, status="FINISHED" if ok else "FAILED")

    @property
    def run_id(self) -> str | None:
        return self._run_id

    def _experiment_id(self) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(self._client.create_experiment(name, artifact_location=_artifact_root(self.uri)))

    def _require_run(self) -> str:
        if self._run_id is None:
            raise RuntimeError("no MLflow run started")
        return self._run_id


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's own deprecation warnings (SQLAlchemy's, in its store) say nothing a pertool user
    can act on; under `-W error` they would even fail the logging."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _artifact_root(uri: str) -> str | None:
    """`mlartifacts/` beside a SQLite store's file; None (the server's choice) for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "sqlite" or not parts.path or parts.path == "/:memory:":
        return None
    # SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute.db (the path after one slash)
    return (Path(unquote(parts.path)[1:]).parent / "mlartifacts").resolve().as_uri()


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
