"""Small file helpers: atomic writes, reading JSON with errors that name the file, and the one
JSONL line codec every pertool JSONL writer and reader uses.

JSONL lines are split on "\n" only (never `str.splitlines()`, which also splits on U+2028,
U+2029, U+0085 and others that may sit inside a string). Every line is written by
`jsonl_dumps`: UTF-8 text with lone surrogates and the Unicode line separators escaped as
`\\uXXXX`, so the file is valid UTF-8, one record per line, and any Python string comes back as
it went in (`iter_jsonl_values`, which names the file and line of a line that is not JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pertool.errors import DataError

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "check_regular_file", "file_sha256", "iter_jsonl",
    "iter_jsonl_values", "json_value", "jsonl_dumps", "read_config", "read_file_bytes", "read_json",
    "read_text", "user_cache_dir", "user_data_dir",
]  # fmt: skip

MAX_INPUT_BYTES = 2 * 1024**3  # a file pertool reads whole: 2 GB is past any benchmark


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


def read_file_bytes(path: Path) -> bytes:
    """A whole file's bytes; anything but a regular file of sane size (a FIFO would hang, a
    device never end, a directory), missing or unreadable, is a `DataError` naming the file."""
    path = Path(path)
    try:
        info = os.stat(path)
        _check_regular(path, info)
        if info.st_size > MAX_INPUT_BYTES:
            raise DataError(str(path), f"is {info.st_size} bytes, more than the {MAX_INPUT_BYTES} read whole")
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), "file not found") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read it: {exc.strerror or exc}") from None


def check_regular_file(path: Path) -> None:
    """Refuse (DataError) a path that exists and is not a regular file: opening a FIFO to append
    would hang until a reader comes, a directory cannot be written as a file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DataError(str(path), f"cannot read it: {exc.strerror or exc}") from None
    _check_regular(Path(path), info)


def _check_regular(path: Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise DataError(str(path), "is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(str(path), "is not a regular file (a FIFO, socket or device); refused")


def read_text(path: Path) -> str:
    """A whole UTF-8 text file (see `read_file_bytes`); not UTF-8 is a `DataError` too."""
    data = read_file_bytes(path)
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
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit limit
        raise DataError(where, f"not valid JSON: {str(exc)[:80]}") from None


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex), read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path) -> Any:
    return json_value(read_text(path), str(path))


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


# Characters `json.dumps(ensure_ascii=False)` leaves raw that break a line-oriented or UTF-8
# reader: lone surrogates (not encodable as UTF-8), NEL and the Unicode line/paragraph separators
# (line breaks for `splitlines()` and for JavaScript before ES2019).
_UNSAFE = re.compile("[\ud800-\udfff\u0085\u2028\u2029]")


def jsonl_dumps(record: Any) -> str:
    """One JSONL line (without its "\n"). Strict JSON: NaN or infinity, a value nested too
    deeply or an integer too long to print raise ValueError (or RecursionError)."""
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def iter_jsonl(file: Path, *, repair: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, split on "\n" only and decoded line by line,
    so a bad byte is reported with its line (DataError). A last line without its "\n" was torn
    by a crash (kill -9 mid-write) unless it is a whole JSON value: a torn one is skipped, and
    with `repair` (the writer reopening the file) cut off, so the appended lines stay whole."""
    if not file.exists():
        return
    data = read_file_bytes(file)
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with "\n"
    if tail.strip():
        if _whole_json(tail):
            lines.append(tail)
            if repair:
                with open(file, "ab") as handle:
                    handle.write(b"\n")
        elif repair:
            with open(file, "r+b") as handle:
                handle.truncate(len(data) - len(tail))
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{file}, line {number}",
                            f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _whole_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


def iter_jsonl_values(file: Path, *, repair: bool = False) -> Iterator[tuple[str, Any]]:
    """(where, value) of each line of `iter_jsonl`, decoded with `json_value`: a line that is not
    JSON is one `DataError` naming the file and the line ("FILE, line N")."""
    for number, line in iter_jsonl(file, repair=repair):
        where = f"{file}, line {number}"
        yield where, json_value(line, where)


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
