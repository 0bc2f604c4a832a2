"""Predictions files: JSONL lines `{"id": ..., "output": ...}`, one per sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pertool.errors import DataError
from pertool.fileio import iter_jsonl_values

__all__ = ["PredictionsFile", "read_predictions"]


@dataclass
class PredictionsFile:
    outputs: dict[str, str | None]
    duplicates: list[str] = field(default_factory=list)  # ids seen more than once (last wins)


def read_predictions(path: str | Path) -> PredictionsFile:
    path = Path(path)
    if not path.exists():
        raise DataError(str(path), "file not found")
    out = PredictionsFile(outputs={})
    # The one JSONL reader: regular files only, split on "\n", a bad byte named by its line, and
    # a last line torn by a crash (kill -9 mid-write) skipped, as compare and report do.
    for where, record in iter_jsonl_values(path, repair=False):
        _read_record(out, record, where)
    return out


def _read_record(out: PredictionsFile, record: Any, where: str) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or "output" not in record:
        raise DataError(where, 'expected an object with a string "id" and an "output"')
    output = record.get("output")
    if output is not None and not isinstance(output, str):
        raise DataError(where, f'"output" must be a string or null, got {type(output).__name__}')
    if record["id"] in out.outputs:
        out.duplicates.append(record["id"])
    out.outputs[record["id"]] = output
