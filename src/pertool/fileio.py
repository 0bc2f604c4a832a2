"""Small file helpers: atomic writes and reading JSON with errors that name the file."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from pertool.errors import DataError

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "read_json", "read_jsonl_lines", "user_cache_dir",
    "user_data_dir",
]  # fmt: skip


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write via a temporary file in the same directory and rename: readers never see half.
    `durable=False` skips the fsync (for files rewritten often, e.g. running counters).
    The file gets the permissions of a plain open() (0o666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp_file(path.parent, f".{path.name}.", ".partial")
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


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(str(path), "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def user_cache_dir() -> Path:
    """Caches (responses, generated benchmarks): $PERTOOL_CACHE_DIR, else $XDG_CACHE_HOME/pertool."""
    if os.environ.get("PERTOOL_CACHE_DIR"):
        return Path(os.environ["PERTOOL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pertool"


def _create_temp_file(parent: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """An exclusively created new file, like tempfile.mkstemp but with mode 0o666, so the umask
    applies as for a plain open(): mkstemp's 0600 would survive the rename and make atomically
    written outputs private while the ones opened normally are not."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new directory inside `parent`, like tempfile.mkdtemp but with mode 0o777 less the umask
    (mkdtemp's 0700 would survive a rename into place)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")


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
