"""Fetch benchmark files from a pinned public commit (or a local mirror) into the data dir.

Every file is staged first; only when all of them are fetched and verified are they moved into
place, each with an atomic rename. A failed or interrupted download leaves the previous copy
(if any) untouched, and no staging folder or directory it had to create. Benchmarks share this
machinery; each gives its file list and verifier.

Everything is bounded (`Limits`): the whole download has a deadline (a server trickling a byte
a second ends there, not only a silent one), and the bytes fetched have a cap. A mirror file
must be a regular file (or a link to one): FIFOs, devices and sockets are refused unread.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from pertool.errors import DataError, DownloadError, PertoolError

__all__ = ["Limits", "RemoteDataset", "download", "git_blob_id", "blob_verifier", "sha256_verifier"]

_READ_TIMEOUT_S = 30.0  # one silent read; the whole download's deadline bounds the rest
_CHUNK = 1 << 16
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Limits:
    """Bounds of one download: all files together."""

    deadline_s: float = 600.0
    max_bytes: int = 500 * 1024 * 1024


@dataclass(frozen=True)
class RemoteDataset:
    """Files of a public repository at a pinned commit."""

    name: str
    base_url: str  # ends with "/"; relative paths are appended
    files: tuple[str, ...]
    # Called on the staging directory once every file is there; raises to reject the data.
    verify: Callable[[Path], str]
    # Files a mirror may lack (reported, not fatal); every file fetched is still verified.
    optional: tuple[str, ...] = ()
    # Files the verifier writes into the staging directory (e.g. extracted from a fetched
    # archive); moved into place with the fetched ones.
    produces: tuple[str, ...] = ()


def download(dataset: RemoteDataset, dest: Path, source: str | None = None,
             limits: Limits = Limits()) -> str:  # fmt: skip
    """Fetch `dataset` into `dest` from `source` (a directory or base URL; default: the pinned
    public commit). Returns the verifier's summary."""
    origin = source or dataset.base_url
    budget = _Budget(limits)
    created = _missing_dirs(dest.parent)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dataset.name}-", dir=dest.parent))
    except OSError as exc:
        _remove_empty(created)
        raise DownloadError(f"cannot write in the data dir {dest.parent}: {exc.strerror or exc}") from None
    done = False
    try:
        missing = []
        for rel in dataset.files:
            try:
                _fetch(origin, rel, staging / rel, budget)
            except _Missing:
                if rel not in dataset.optional:
                    raise DownloadError(f"{rel} is missing from {origin}") from None
                missing.append(rel)
        try:
            summary = dataset.verify(staging)
        except PertoolError as exc:
            raise DownloadError(f"{dataset.name} from {origin} failed verification: {exc}") from None
        for rel in (*dataset.files, *dataset.produces):
            if rel in missing:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).replace(target)
        done = True
        return summary + (f"; not on that source: {', '.join(missing)}" if missing else "")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not done:
            _remove_empty(created)


def _missing_dirs(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first."""
    out = []
    for directory in (path, *path.parents):
        if directory.exists():
            break
        out.append(directory)
    return out


def _remove_empty(directories: list[Path]) -> None:
    """Remove directories this download created, deepest first, as long as they are empty."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            break


class _Missing(Exception):
    """The source has no such file (404, or absent from a mirror directory)."""


class _Budget:
    """The deadline and the bytes left of one download."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.deadline_s
        self.bytes_left = limits.max_bytes

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self, what: str) -> None:
        if self.remaining_s() <= 0:
            raise self.too_long(what)

    def too_long(self, what: str) -> DownloadError:
        return DownloadError(f"{what}: the download took longer than {self.limits.deadline_s:g} s "
                             "(the whole-download deadline; raise it with --timeout)")  # fmt: skip

    def take(self, count: int, what: str) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise DownloadError(f"{what}: the download exceeds {_mb(self.limits.max_bytes)} "
                                "(raise the cap with --max-download-mb)")  # fmt: skip


def _mb(count: int) -> str:
    return f"{count / (1024 * 1024):.4g} MB"


def _fetch(origin: str, rel: str, target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if "://" not in origin:
        _copy_file(Path(origin) / rel, target, budget)
    else:
        _fetch_url(origin.rstrip("/") + "/" + rel, target, budget)


def _copy_file(path: Path, target: Path, budget: _Budget) -> None:
    """Copy a mirror file; opened without blocking and checked to be a regular file first, so a
    FIFO cannot hang and a device (a link to /dev/zero) cannot flood the disk."""
    try:
        _require_regular(path, os.stat(path).st_mode)  # follows links: a link to a device is one
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise _Missing(str(path)) from None
    except OSError as exc:
        raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _require_regular(path, info.st_mode)  # what was opened, if it changed since the check
        if info.st_size > budget.bytes_left:
            budget.take(info.st_size, str(path))
        os.set_blocking(handle.fileno(), True)
        with open(target, "wb") as out:
            try:
                while chunk := handle.read(_CHUNK):
                    budget.take(len(chunk), str(path))
                    budget.check_time(str(path))
                    out.write(chunk)
            except OSError as exc:
                raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from None


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise DownloadError(f"{path} is not a regular file ({_kind(mode)}); refused")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):  # fmt: skip
        if test(mode):
            return name
    return "a special file"


def _fetch_url(url: str, target: Path, budget: _Budget) -> None:
    for _ in range(_MAX_REDIRECTS + 1):
        budget.check_time(url)
        location = _get(url, target, budget)
        if location is None:
            return
        url = urljoin(url, location)
    raise DownloadError(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _get(url: str, target: Path, budget: _Budget) -> str | None:
    """One GET into `target`; returns the redirect location, if any. A watchdog shuts the
    socket at the deadline: a read timeout alone never ends a server that trickles bytes."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DownloadError(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{url}: only http:// and https:// URLs (or a directory) can be fetched")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    timeout = max(0.1, min(_READ_TIMEOUT_S, budget.remaining_s()))
    try:
        conn = cls(parts.hostname, port, timeout=timeout)
    except http.client.HTTPException as exc:  # InvalidURL: spaces or control characters
        raise DownloadError(f"{url}: not a valid URL ({exc})") from None
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(0.0, budget.remaining_s()), abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        path = parts.path or "/"
        conn.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                     headers={"User-Agent": "pertool", "Accept-Encoding": "identity"})  # fmt: skip
        response = conn.getresponse()
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            return response.getheader("Location")
        if response.status == 404:
            raise _Missing(url)
        if response.status != 200:
            raise DownloadError(f"{url}: HTTP {response.status} {response.reason}")
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > budget.bytes_left:
            budget.take(int(declared), url)
        received = 0
        with open(target, "wb") as out:
            while chunk := response.read1(_CHUNK):
                budget.take(len(chunk), url)
                budget.check_time(url)
                out.write(chunk)
                received += len(chunk)
        if expired.is_set():
            raise budget.too_long(url)
        if declared and declared.isdigit() and received != int(declared):
            raise DownloadError(f"{url}: the connection closed after {received} of {declared} bytes")
        return None
    except (OSError, http.client.HTTPException, ValueError, UnicodeError) as exc:
        if expired.is_set():
            raise budget.too_long(url) from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DownloadError(
            f"cannot reach {url} ({reason}). If this machine is offline, fetch the files "
            "elsewhere and pass their directory with --from DIR."
        ) from None
    finally:
        watchdog.cancel()
        conn.close()


def git_blob_id(data: bytes) -> str:
    """The id git gives a file's content: SHA-1 of `blob <size>\\0` followed by the bytes."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def blob_verifier(blobs: dict[str, str],
                  describe: Callable[[Path], str] | None = None) -> Callable[[Path], str]:  # fmt: skip
    """A verifier that accepts a file only if its git blob id is the pinned one (the id the
    pinned commit's tree names), then lets `describe` summarise the accepted files."""

    def verify(root: Path) -> str:
        for rel, expected in blobs.items():
            if not (root / rel).exists():
                continue  # an optional file the source does not have
            found = git_blob_id((root / rel).read_bytes())
            if found != expected:
                raise DataError(rel, f"git blob id {found} does not match the pinned commit's {expected}")
        checked = f"git blob ids of {len(blobs)} files verified"
        return f"{describe(root)}; {checked}" if describe else checked

    return verify


def sha256_verifier(hashes: dict[str, str]) -> Callable[[Path], str]:
    """A verifier that checks every file against its pinned sha256."""

    def verify(root: Path) -> str:
        checked = 0
        for rel, expected in hashes.items():
            if not (root / rel).exists():
                continue  # an optional file the source does not have
            checked += 1
            found = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            if found != expected:
                raise DataError(rel, f"sha256 {found} does not match the pinned {expected}")
        return f"{checked} files, sha256 verified"

    return verify
