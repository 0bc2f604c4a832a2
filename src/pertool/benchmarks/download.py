"""Fetch benchmark files from a pinned public commit (or a local mirror) into the data dir.

Every file is staged first; only when all of them are fetched and verified are they moved into
place, each with an atomic rename. A failed or interrupted download leaves the previous copy
(if any) untouched. Benchmarks share this machinery; each gives its file list and verifier.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pertool.errors import DataError, DownloadError, PertoolError
from pertool.fileio import atomic_write_bytes

__all__ = ["RemoteDataset", "download", "sha256_verifier"]

_TIMEOUT_S = 60


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


def download(dataset: RemoteDataset, dest: Path, source: str | None = None) -> str:
    """Fetch `dataset` into `dest` from `source` (a directory or base URL; default: the pinned
    public commit). Returns the verifier's summary."""
    origin = source or dataset.base_url
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset.name}-", dir=dest.parent))
    try:
        missing = []
        for rel in dataset.files:
            try:
                atomic_write_bytes(staging / rel, _fetch(origin, rel))
            except _Missing:
                if rel not in dataset.optional:
                    raise DownloadError(f"{rel} is missing from {origin}") from None
                missing.append(rel)
        try:
            summary = dataset.verify(staging)
        except PertoolError as exc:
            raise DownloadError(f"{dataset.name} from {origin} failed verification: {exc}") from None
        for rel in dataset.files:
            if rel in missing:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).replace(target)
        return summary + (f"; not on that source: {', '.join(missing)}" if missing else "")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Missing(Exception):
    """The source has no such file (404, or absent from a mirror directory)."""


def _fetch(origin: str, rel: str) -> bytes:
    if "://" not in origin:
        path = Path(origin) / rel
        if not path.exists():
            raise _Missing(rel)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from None
    url = origin.rstrip("/") + "/" + rel
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _Missing(rel) from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url} ({reason}). If this machine is offline, fetch the files "
            "elsewhere and pass their directory with --from DIR."
        ) from None



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
