"""Small file helpers: atomic writes and reading JSON with errors that name the file."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from pertool.errors import DataError

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "json_value", "read_config", "read_json", "read_jsonl_lines",
    "read_text", "user_cache_dir", "user_data_dir",
]  # fmt: skip

MAX_INPUT_BYTES = 2 * 1024**3  # a file pertool reads whole: 2 GB is past any benchmark


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write via a temporary file in the same directory and rename: readers never see half.
    `durable=False` skips the fsync (for files rewritten often, e.g. running counters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def read_text(path: Path) -> str:
    """A whole UTF-8 text file; anything but a regular file of sane size (a FIFO would hang, a
    device never end), unreadable or not UTF-8, is a `DataError` naming the file."""
    path = Path(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise DataError(str(path), "is a directory, expected a file")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(str(path), "is not a regular file (a FIFO, socket or device); refused")
        if info.st_size > MAX_INPUT_BYTES:
            raise DataError(str(path), f"is {info.st_size} bytes, more than the {MAX_INPUT_BYTES} read whole")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), "file not found") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read it: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def json_value(text: str, where: str) -> Any:
    """Parse JSON text; errors (deep nesting included) become one `DataError` line at `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(where, f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno}") from None
    except RecursionError:
        raise DataError(where, "not valid JSON: nested too deeply") from None


def read_json(path: Path) -> Any:
    return json_value(read_text(path), str(path))


def user_cache_dir() -> Path:
    """Caches (responses, generated benchmarks): $PERTOOL_CACHE_DIR, else $XDG_CACHE_HOME/pertool."""
    if os.environ.get("PERTOOL_CACHE_DIR"):
        return Path(os.environ["PERTOOL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pertool"


def user_data_dir() -> Path:
    """Where downloaded benchmarks live: $PERTOOL_DATA_DIR, else $XDG_DATA_HOME/pertool."""
    if os.environ.get("PERTOOL_DATA_DIR"):
        return Path(os.environ["PERTOOL_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pertool"


def read_jsonl_lines(file: Path) -> list[str]:
    """The lines of an append-only JSONL file, after cutting off a last line torn by a crash
    (kill -9 mid-write): that record is simply written again by whoever resumes."""
    if not file.exists():
        return []
    data = file.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(file, "r+b") as handle:
            handle.truncate(len(data))
    return data.decode("utf-8").splitlines()


def read_config(path: Path) -> Any:
    """A YAML (or, for a .json name, JSON) config file as data; every problem is one
    `DataError` line. Aliases are refused: a few lines of them expand to billions of nodes."""
    import yaml

    text = read_text(path)
    if path.suffix == ".json":
        return json_value(text, str(path))
    if _bracket_depth(text) > _MAX_CONFIG_DEPTH:  # PyYAML's scanner is quadratic in flow depth
        raise DataError(str(path), f"nested more than {_MAX_CONFIG_DEPTH} levels deep")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise DataError(str(path), "YAML aliases (*name) are not supported in a config")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise DataError(str(path), f"not valid YAML: {problem}{where}") from None
    except RecursionError:
        raise DataError(str(path), "not valid YAML: nested too deeply") from None


_MAX_CONFIG_DEPTH = 100


def _bracket_depth(text: str) -> int:
    """The deepest nesting of [ and { (quotes ignored: a config never needs 100 levels)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest
