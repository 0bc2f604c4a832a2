"""The run directory: the contract between running and reporting.

    config.json        what was run (model, benchmark, settings, the NAME of the key variable)
    predictions.jsonl  one line per finished sample, appended and flushed as each completes
    errors.jsonl       requests that failed for good in the latest attempt (retried on resume);
                       {"id", "error"}, plus "kind": "context_overflow" (and the token counts
                       known) when the prompt did not fit the model's context window
    metrics.json       the scores, same schema as `pertool score --json`, plus token usage and
                       `benchmark_fingerprint` (runner/fingerprint.py): the benchmark content
                       it was scored against
    scores.jsonl       what the scorer decided per scored sample (`ScoredSample.to_json`: id,
                       split, the parse it used, outcomes, categories, count row, detail);
                       rewritten whole (atomically) with metrics.json at the end of a run or
                       resume. Reports and compare render from it, never re-parsing.

    .lock              held (flock) by the one process writing the run: eval, resume or ablate

A `kill -9` can leave a half-written last line in predictions.jsonl; reopening the directory
cuts it off (that sample is simply run again), so nothing is duplicated or lost. Every line is
written and read with the JSONL codec of `pertool.fileio` (any string round-trips; lines split
on "\n" only), and a record of the wrong shape is refused with its file, line and field. The
lock dies with its holder, so a killed run can be resumed at once; a second writer is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from pertool.errors import DataError, PertoolError
from pertool.fileio import (
    atomic_write_text,
    check_regular_file,
    file_sha256,
    iter_jsonl_values,
    jsonl_dumps,
    read_json,
)
from pertool.locking import FileLock
from pertool.outpaths import OutDir, check_out_dir

__all__ = ["RunDir", "append_line", "check_record", "read_records"]

CONFIG, PREDICTIONS, ERRORS, METRICS = "config.json", "predictions.jsonl", "errors.jsonl", "metrics.json"
SCORES = "scores.jsonl"
LOCK = ".lock"
# errors.jsonl's `kind` of a sample whose prompt did not fit the model's context window; a line
# without a kind is a failed request.
CONTEXT_OVERFLOW = "context_overflow"


class RunDir:
    def __init__(self, path: Path):
        self.path = path
        self._lock = FileLock(path / LOCK)
        self._out: OutDir | None = None  # set when this process created the directory's run
        self._written: set[str] = set()  # files this process created in it

    @classmethod
    def create(cls, path: Path, config: dict[str, Any], *, lock: bool = False) -> RunDir:
        """A new run in `path`: a new or empty directory (anything else is refused before a byte
        is written). `lock`: hold the writer's lock from before config.json is written."""
        if (path / PREDICTIONS).exists() or (path / CONFIG).exists():
            raise _holds_a_run(path)
        out = check_out_dir(path, "run", reuse=False)
        out.make()
        run = cls(path)
        run._out = out
        if lock:
            run.lock()
        if (path / PREDICTIONS).exists() or (path / CONFIG).exists():  # made meanwhile by another run
            run.unlock()
            raise _holds_a_run(path)
        run.write_json(CONFIG, config)
        run.appender(PREDICTIONS).close()
        return run

    @property
    def created(self) -> bool:
        """This process created the run (so `discard` may take it back)."""
        return self._out is not None

    def lock(self) -> None:
        """Become the run's one writer, or raise PertoolError if another process is writing it."""
        self._lock.acquire_now(f"{self.path} is being written by another pertool process (one writer "
                               "per run); wait for it to finish or stop it first")  # fmt: skip

    def unlock(self) -> None:
        self._lock.release()

    def discard(self) -> None:
        """Undo `create` after a failure before any sample finished: remove the files this run
        wrote and the directory if this run made it and nothing else is in it."""
        files = [self.path / name for name in sorted(self._written)]
        self._lock.release(remove=True)
        if self._out is not None:
            self._out.discard(files)
        else:
            for file in files:
                file.unlink(missing_ok=True)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        if not (path / CONFIG).is_file():
            raise PertoolError(f"{path} is not a run directory (no {CONFIG})")
        return cls(path)

    def config(self) -> dict[str, Any]:
        data = read_json(self.path / CONFIG)
        if not isinstance(data, dict):
            raise DataError(str(self.path / CONFIG), "expected a JSON object")
        return data

    def finished(self, *, repair: bool = False) -> dict[str, dict[str, Any]]:
        """Records already in predictions.jsonl (a torn last line is skipped; cut off with
        `repair`, which only the run's writer passes)."""
        return read_records(self.path / PREDICTIONS, repair=repair)

    def failed_ids(self) -> set[str]:
        """Ids of the samples whose request failed in the latest attempt (errors.jsonl), those
        whose prompt did not fit the context window included."""
        return set(self.errors())

    def context_overflows(self) -> dict[str, dict[str, Any]]:
        """The errors.jsonl lines of kind `context_overflow` (the prompt did not fit the model's
        context window), by sample id."""
        return {i: line for i, line in self.errors().items() if line.get("kind") == CONTEXT_OVERFLOW}

    def errors(self) -> dict[str, dict[str, Any]]:
        """errors.jsonl's lines by sample id, `id` and any `kind` checked."""
        lines = {}
        for where, record in iter_jsonl_values(self.path / ERRORS):
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise DataError(where, "expected a string", field="id")
            if not isinstance(record.get("kind", ""), str):
                raise DataError(where, f"expected a string, got {_kind(record['kind'])}", field="kind")
            lines[record["id"]] = record
        return lines

    def appender(self, name: str, *, truncate: bool = False) -> IO[str]:
        self._note_new(name)
        check_regular_file(self.path / name)  # a FIFO would block the open, a directory raise
        return open(self.path / name, "w" if truncate else "a", encoding="utf-8")

    def write_json(self, name: str, data: Any) -> None:
        self._note_new(name)
        atomic_write_text(self.path / name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def write_lines(self, name: str, records: Iterable[Any]) -> None:
        """A whole JSONL file, replaced atomically (a reader sees the old file or the new one)."""
        self._note_new(name)
        atomic_write_text(self.path / name, "".join(jsonl_dumps(r) + "\n" for r in records))

    def digest(self, name: str) -> str | None:
        """"sha256:<hex>" of a file of the run (None when it is missing): metrics.json records
        those of scores.jsonl and predictions.jsonl as scored, so a reader can tell that either
        changed since (edited, or a Ctrl-C between the final writes)."""
        path = self.path / name
        return "sha256:" + file_sha256(path) if path.is_file() else None

    def scores(self) -> list[tuple[str, Any]] | None:
        """scores.jsonl's lines as (where, value), or None when the run has none (written by an
        older pertool, or not finished yet)."""
        if not (self.path / SCORES).is_file():
            return None
        return list(iter_jsonl_values(self.path / SCORES))


    def _note_new(self, name: str) -> None:
        if not (self.path / name).exists():
            self._written.add(name)


def _holds_a_run(path: Path) -> PertoolError:
    return PertoolError(f"{path} already holds a run; continue it with "
                        f"`pertool eval --resume {path}` or choose another --out")  # fmt: skip


def append_line(handle: IO[str], record: dict[str, Any]) -> None:
    """One JSON line, flushed at once: a crash after this call cannot lose it. Raises (ValueError,
    RecursionError) before writing anything when the record cannot be encoded."""
    handle.write(jsonl_dumps(record) + "\n")
    handle.flush()


# The fields of a predictions.jsonl record and the types each may have (`id` and `output` are
# required). Unknown fields are kept: later versions may add some.
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,), "output": (str, type(None)), "text": (str, type(None)), "tool_calls": (list, type(None)),
    "input_tokens": (int,), "output_tokens": (int,), "latency_s": (int, float), "cached": (bool,),
}  # fmt: skip


def read_records(file: Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """The records of a run's predictions.jsonl by id, each checked field by field."""
    records: dict[str, dict[str, Any]] = {}
    for where, record in iter_jsonl_values(file, repair=repair):
        check_record(record, where)
        records[record["id"]] = record
    return records


def check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict):
        raise DataError(where, f"expected a JSON object, got {_kind(record)}")
    for name, types in _RECORD_FIELDS.items():
        if name not in record:
            if name in ("id", "output"):
                raise DataError(where, "missing", field=name)
            continue
        value = record[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wanted = " or ".join("null" if t is type(None) else _NAMES[t] for t in types)
            raise DataError(where, f"expected {wanted}, got {_kind(value)}", field=name)


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
          dict: "an object"}  # fmt: skip


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)  # fmt: skip
