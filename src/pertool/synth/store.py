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
from pertool.fileio import atomic_write_text, iter_jsonl_values, read_config, read_json
from pertool.synth.records import SynthConfig

__all__ = ["PipelineDir", "load_config"]

R = TypeVar("R", bound=BaseModel)
PIPELINE_VERSION = 2  # 2: conditional preferences, declared sources, chains (issue 14)


def load_config(path: str | Path) -> SynthConfig:
    return _synth_config(read_config(Path(path)), str(path))


def _synth_config(data: Any, file: str, prefix: str = "") -> SynthConfig:
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(first["loc"]))
        raise DataError(file, f"{where}: {one_line(first['msg'])}") from None


class PipelineDir:
    def __init__(self, path: Path):
        self.path = path

    def start(self, config: SynthConfig) -> None:
        """Create the directory, or check that an existing one was made with the same config."""
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / "pipeline.json"
        wanted = {"version": PIPELINE_VERSION, "config": config.model_dump(mode="json")}
        if manifest.exists():
            found = self._manifest()
            if found != wanted:
                raise PertoolError(f"{self.path} was started with another config or version; "
                                   "use a new --out directory")  # fmt: skip
            return
        atomic_write_text(manifest, json.dumps(wanted, indent=2) + "\n")

    def config(self) -> SynthConfig:
        return _synth_config(self._manifest()["config"], str(self.path / "pipeline.json"), "config")

    def _manifest(self) -> dict[str, Any]:
        """pipeline.json: {"version": .., "config": {...}}, checked before use."""
        file = self.path / "pipeline.json"
        data = read_json(file)
        if not isinstance(data, dict):
            raise DataError(str(file), "expected a JSON object {\"version\": .., \"config\": {...}}")
        if not isinstance(data.get("config"), dict):
            raise DataError(str(file), "expected a JSON object", field="config")
        return data

    def read(self, name: str, model: type[R]) -> dict[str, R]:
        """Records of `<name>.jsonl` by key (a torn last line is cut off first)."""
        file = self.path / f"{name}.jsonl"
        out: dict[str, R] = {}
        for where, value in iter_jsonl_values(file, repair=True):
            try:  # decoded first, not model_validate_json: that refuses the \ud800 escapes we write
                record = model.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise DataError(where, one_line(first["msg"]), field=field) from None
            out[record.key] = record  # type: ignore[attr-defined]
        return out

    def done(self, stage: str) -> bool:
        return (self.path / f".done-{stage}").exists()

    def mark_done(self, stage: str) -> None:
        (self.path / f".done-{stage}").touch()

    def summary(self) -> dict[str, Any]:
        file = self.path / "summary.json"
        if not file.exists():
            return {}
        data = read_json(file)
        if not isinstance(data, dict):
            raise DataError(str(file), "expected a JSON object")
        for stage, counts in data.items():  # pertool's own counters, but a resume adds to them
            if not isinstance(counts, dict):
                raise DataError(str(file), "expected a JSON object", field=stage)
            for name, value in counts.items():
                if name == "rejected":  # {reason: count}
                    if not (isinstance(value, dict) and all(map(_is_number, value.values()))):
                        raise DataError(str(file), "expected an object of counts", field=f"{stage}.{name}")
                elif not _is_number(value):
                    raise DataError(str(file), "expected a number", field=f"{stage}.{name}")
        return data

    def write_summary(self, summary: dict[str, Any]) -> None:
        # Rewritten after every record: atomic, but not fsynced (counters, not data).
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n", durable=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
