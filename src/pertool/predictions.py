"""Predictions files: JSONL lines `{"id": ..., "output": ...}`, one per sample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pertool.errors import DataError

__all__ = ["PredictionsFile", "read_predictions"]


@dataclass
class PredictionsFile:
    outputs: dict[str, str | None]
    duplicates: list[str] = field(default_factory=list)  # ids seen more than once (last wins)


def read_predictions(path: str | Path) -> PredictionsFile:
    path = Path(path)
    out = PredictionsFile(outputs={})
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise DataError(str(path), exc.strerror or str(exc)) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(where, f"not valid JSON ({exc.msg}, column {exc.colno})") from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise DataError(where, 'expected an object with a string "id" and an "output"')
            output = record.get("output")
            if output is not None and not isinstance(output, str):
                raise DataError(where, f'"output" must be a string or null, got {type(output).__name__}')
            if record["id"] in out.outputs:
                out.duplicates.append(record["id"])
            out.outputs[record["id"]] = output
    return out
