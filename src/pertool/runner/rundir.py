"""The run directory: the contract between running and reporting.

    config.json        what was run (model, benchmark, settings, the NAME of the key variable)
    predictions.jsonl  one line per finished sample, appended and flushed as each completes
    errors.jsonl       requests that failed for good in the latest attempt (retried on resume)
    metrics.json       the scores, same schema as `pertool score --json`, plus token usage

A `kill -9` can leave a half-written last line in predictions.jsonl; reopening the directory
cuts it off (that sample is simply run again), so nothing is duplicated or lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from pertool.errors import DataError, PertoolError
from pertool.fileio import atomic_write_text, read_jsonl_lines

__all__ = ["RunDir"]

CONFIG, PREDICTIONS, ERRORS, METRICS = "config.json", "predictions.jsonl", "errors.jsonl", "metrics.json"


class RunDir:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, path: Path, config: dict[str, Any]) -> RunDir:
        if (path / PREDICTIONS).exists() or (path / CONFIG).exists():
            raise PertoolError(f"{path} already holds a run; continue it with "
                               f"`pertool eval --resume {path}` or choose another --out")  # fmt: skip
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.write_json(CONFIG, config)
        (path / PREDICTIONS).touch()
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        if not (path / CONFIG).is_file():
            raise PertoolError(f"{path} is not a run directory (no {CONFIG})")
        return cls(path)

    def config(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(str(self.path / CONFIG), f"unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(str(self.path / CONFIG), "expected a JSON object")
        return data

    def finished(self) -> dict[str, dict[str, Any]]:
        """Records already in predictions.jsonl, after cutting off a torn last line."""
        file = self.path / PREDICTIONS
        records: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(read_jsonl_lines(file), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{file}, line {number}", "not valid JSON") from None
            records[record["id"]] = record
        return records

    def appender(self, name: str, *, truncate: bool = False) -> IO[str]:
        return open(self.path / name, "w" if truncate else "a", encoding="utf-8")

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def append_line(handle: IO[str], record: dict[str, Any]) -> None:
    """One JSON line, flushed at once: a crash after this call cannot lose it."""
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
