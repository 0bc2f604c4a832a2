"""Where pertool may write: the one rule behind every `--out`.

pertool never deletes or overwrites what it did not create. Before a command does anything it
checks its `--out`:

  directory outputs   a path that does not exist, an EMPTY directory, or a directory this
                      command wrote before (its kind: a `.pertool-output` marker naming it, or
                      for kinds that resume, their own signature file such as pipeline.json).
                      Anything else (a file, a directory holding other files, `--out .` in a
                      working directory) is refused with one line.
  file outputs        a path that does not exist, or a file pertool wrote and nobody changed
                      since: pertool keeps the SHA-256 of each file it writes in
                      <cache dir>/outputs/ and replaces a file only while it still holds exactly
                      those bytes. A file the user wrote or edited is refused.

Cleanup after an early failure (`OutDir.discard`) removes the marker and the directories this
run created, and only when they are empty: files pertool did not write are never touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from pertool.errors import DataError, PertoolError
from pertool.fileio import atomic_write_text, file_sha256, read_json, read_text, user_cache_dir
from pertool.versions import __version__

__all__ = ["MARKER", "OutDir", "check_out_dir", "check_out_file", "record_written"]

MARKER = ".pertool-output"


def _json_has(name: str, *keys: str) -> Callable[[Path], bool]:
    """A signature: `name` in the directory is a JSON object with all of `keys`."""

    def check(directory: Path) -> bool:
        try:
            data = read_json(directory / name)
        except DataError:  # missing, not a regular file (a FIFO would hang), not UTF-8 or JSON
            return False
        return isinstance(data, dict) and all(k in data for k in keys)

    return check


# Directories that earlier pertool versions wrote without a marker, recognised by a file only
# pertool writes with that content. Kinds without a signature (tiny-model: config.json is any
# Hugging Face model; data export: test_*_user/data.json is PTBench's own data) need the marker.
_SIGNATURES: dict[str, Callable[[Path], bool]] = {
    "run": _json_has("config.json", "benchmark", "model", "pertool_version"),
    "pipeline": _json_has("pipeline.json", "version", "config"),
    "dataset": _json_has("manifest.json", "generator_version", "counts"),
    "lora": _json_has("checkpoints/run.json", "base", "data_sha256"),
    "model": _json_has("pertool-model.json", "name", "gguf_bytes"),  # `pertool models prepare --out`
}

# A run directory is signed by its config.json, written right after the directory is made.
_UNMARKED = {"run"}

_COMMANDS = {"run": "pertool eval", "ablation": "pertool ablate", "pipeline": "pertool synth",
             "dataset": "pertool generate", "lora": "pertool train lora",
             "tiny-model": "pertool train tiny-model", "ptbench-export": "pertool data export",
             "model": "pertool models prepare", "hf-export": "pertool data export --format hf",
             "hf-sft": "pertool train export --format hf"}  # fmt: skip


def kind_of(directory: Path) -> str | None:
    """The kind of pertool output in `directory`, or None when it holds none."""
    try:
        data = read_json(directory / MARKER)
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            return str(data["kind"])
    except DataError:
        pass
    return next((kind for kind, signed in _SIGNATURES.items() if signed(directory)), None)


class OutDir:
    """An output directory that passed the check; `make` creates it, `discard` undoes that."""

    def __init__(self, path: Path, kind: str, option: str = "--out"):
        self.path, self.kind, self.option = path, kind, option
        self.existing_kind = kind_of(path) if path.is_dir() else None
        self._created: list[Path] = []  # directories this run made, outermost first
        self._marker_written = False

    def make(self) -> Path:
        """Create the directory (and missing parents) and mark it as this kind's output."""
        missing = []
        for parent in (self.path, *self.path.parents):
            if parent.exists() or parent.is_symlink():
                break
            missing.append(parent)
        try:
            for directory in reversed(missing):
                directory.mkdir()
                self._created.append(directory)
        except FileExistsError:
            pass  # made meanwhile by someone else: not ours to remove
        except OSError as exc:
            raise PertoolError(f"{self.option} {self.path}: cannot create it ({exc.strerror})") from None
        if not self.path.is_dir():
            raise PertoolError(f"{self.option} {self.path}: not a directory")
        if self.kind not in _UNMARKED and not (self.path / MARKER).exists():
            atomic_write_text(self.path / MARKER, json.dumps({"kind": self.kind, "written_by":
                              _COMMANDS.get(self.kind, "pertool"), "pertool_version": __version__}) + "\n",
                              durable=False)  # fmt: skip
            self._marker_written = True
        return self.path

    def discard(self, files: list[Path] | tuple[Path, ...] = ()) -> None:
        """Undo `make` after an early failure: remove `files` (ones this run wrote), the marker if
        this run wrote it, then each directory this run created if nothing else is in it."""
        for file in files:
            try:
                file.unlink()
            except OSError:
                pass
        if self._marker_written:
            try:  # the marker goes only with the last thing this run left: it signs what remains
                if [p.name for p in self.path.iterdir()] == [MARKER]:
                    (self.path / MARKER).unlink()
            except OSError:
                pass
        for directory in reversed(self._created):
            try:
                directory.rmdir()  # never rmtree: whatever else appeared there stays
            except OSError:
                break


def check_out_dir(path: Path, kind: str, *, option: str = "--out", reuse: bool = True) -> OutDir:
    """Refuse (one line) a path that is not a new or empty directory or, with `reuse`, this kind's
    own earlier output. Checks only: nothing is created until `make`."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise PertoolError(f"{option} {path} is a broken symbolic link; choose another path")
    if path.exists() and not path.is_dir():
        raise PertoolError(f"{option} {path} is a file, not a directory; pertool writes into a new or "
                           "empty directory")  # fmt: skip
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PertoolError(f"{option} {path}: {parent} is a file, not a directory")
            break
    target = OutDir(path, kind, option)
    if path.is_dir():
        try:
            entries = sorted(p.name for p in path.iterdir())
        except OSError as exc:
            raise PertoolError(f"{option} {path}: cannot read it ({exc.strerror})") from None
        found = target.existing_kind
        if entries and not (reuse and found == kind):
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            what = (f"output of `{_COMMANDS.get(found, 'pertool')}`" if found
                    else f"files pertool did not write ({shown})")  # fmt: skip
            raise PertoolError(f"{option} {path} is not empty and holds {what}; choose a new or empty "
                               "directory (pertool never writes over files it did not create)")  # fmt: skip
    return target


# --- file outputs -------------------------------------------------------------------------------


def _ledger_entry(path: Path) -> Path:
    where = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()
    return user_cache_dir() / "outputs" / where



def check_out_file(path: Path, *, option: str = "--out") -> Path:
    """Refuse (one line) an output file that exists unless pertool wrote it and it is unchanged."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise PertoolError(f"{option} {path} is a broken symbolic link; choose another path")
    if path.is_dir():
        raise PertoolError(f"{option} {path} is a directory; give a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PertoolError(f"{option} {path}: {parent} is a file, not a directory")
            break
    if path.exists():
        if not path.is_file():
            raise PertoolError(f"{option} {path} is not a regular file; choose another path")
        try:
            known = read_text(_ledger_entry(path)).strip()
            same = bool(known) and known == file_sha256(path)
        except (DataError, OSError):
            same = False
        if not same:
            raise PertoolError(f"{option} {path} exists and pertool did not write it (or it was changed "
                               "since); remove it or choose another path")  # fmt: skip
    return path


def record_written(path: Path) -> None:
    """Remember the bytes pertool just wrote to `path`, so a later run may replace them."""
    try:
        atomic_write_text(_ledger_entry(path), file_sha256(path) + "\n", durable=False)
    except OSError:
        pass  # without the ledger the file is only refused next time, never lost

