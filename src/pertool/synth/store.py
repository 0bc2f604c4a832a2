"""The pipeline directory: one JSONL file per stage output, a done marker per stage, the
summary. Records are appended and flushed one by one, so a crash loses at most the line being
written (a torn last line is cut off when the file is read again)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pertool.benchmarks.validation import one_line
from pertool.errors import DataError, PertoolError
from pertool.fileio import atomic_write_text, read_config, read_jsonl_lines
from pertool.synth.records import SynthConfig

__all__ = ["PipelineDir", "load_config"]

R = TypeVar("R", bound=BaseModel)
PIPELINE_VERSION = 1


def load_config(path: str | Path) -> SynthConfig:
    data = read_config(Path(path))
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(str(path), f"{where}: {one_line(first['msg'])}") from None


class PipelineDir:
    def __init__(self, path: Path):
        self.path = path

    def start(self, config: SynthConfig) -> None:
        """Create the directory, or check that an existing one was made with the same config."""
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / "pipeline.json"
        wanted = {"version": PIPELINE_VERSION, "config": config.model_dump(mode="json")}
        if manifest.exists():
            found = json.loads(manifest.read_text(encoding="utf-8"))
            if found != wanted:
                raise PertoolError(f"{self.path} was started with another config or version; "
                                   "use a new --out directory")  # fmt: skip
            return
        atomic_write_text(manifest, json.dumps(wanted, indent=2) + "\n")

    def config(self) -> SynthConfig:
        return SynthConfig.model_validate(json.loads((self.path / "pipeline.json").read_text())["config"])

    def read(self, name: str, model: type[R]) -> dict[str, R]:
        """Records of `<name>.jsonl` by key (a torn last line is cut off first)."""
        file = self.path / f"{name}.jsonl"
        out: dict[str, R] = {}
        for number, line in enumerate(read_jsonl_lines(file), start=1):
            try:
                record = model.model_validate_json(line)
            except ValidationError as exc:
                raise DataError(f"{file}, line {number}", str(exc).splitlines()[0]) from None
            out[record.key] = record  # type: ignore[attr-defined]
        return out

    def done(self, stage: str) -> bool:
        return (self.path / f".done-{stage}").exists()

    def mark_done(self, stage: str) -> None:
        (self.path / f".done-{stage}").touch()

    def summary(self) -> dict[str, Any]:
        file = self.path / "summary.json"
        return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}

    def write_summary(self, summary: dict[str, Any]) -> None:
        # Rewritten after every record: atomic, but not fsynced (counters, not data).
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n", durable=False)
