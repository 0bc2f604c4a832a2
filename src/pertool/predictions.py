"""Predictions files: JSONL lines `{"id": ..., "output": ...}`, one per sample."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pertool.errors import DataError
from pertool.fileio import json_value

__all__ = ["PredictionsFile", "read_predictions"]


@dataclass
class PredictionsFile:
    outputs: dict[str, str | None]
    duplicates: list[str] = field(default_factory=list)  # ids seen more than once (last wins)


def read_predictions(path: str | Path) -> PredictionsFile:
    path = Path(path)
    out = PredictionsFile(outputs={})
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would hang, a device never end
            raise DataError(str(path), "not a regular file; refused")
        handle = open(path, "rb")  # decoded per line, so an encoding error names its line
    except OSError as exc:
        raise DataError(str(path), exc.strerror or str(exc)) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}, line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            _read_line(out, line, where)
    return out


def _read_line(out: PredictionsFile, line: str, where: str) -> None:
    if not line.strip():
        return
    record = json_value(line, where)
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or "output" not in record:
        raise DataError(where, 'expected an object with a string "id" and an "output"')
    output = record.get("output")
    if output is not None and not isinstance(output, str):
        raise DataError(where, f'"output" must be a string or null, got {type(output).__name__}')
    if record["id"] in out.outputs:
        out.duplicates.append(record["id"])
    out.outputs[record["id"]] = output
