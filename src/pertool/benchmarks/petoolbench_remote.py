"""`pertool data download petoolbench`: the test zip at the pinned commit, sha256 verified, and
its one member extracted beside it.

The zip was deleted from the repository again after that commit, so the pinned commit is the
only public source. The verifier checks the zip's hash, extracts `user_entries_test.json` into
the staging directory (size-capped; the member's own path is never used, so no path in the
archive can point elsewhere) and loads it; the download machinery then moves both files into
place atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from pertool.benchmarks.download import RemoteDataset
from pertool.benchmarks.petoolbench import DATA_FILE, ZIP_FILE, load_petoolbench, read_zip_member
from pertool.errors import DataError

__all__ = ["PETOOLBENCH_COMMIT", "PETOOLBENCH_REMOTE", "PETOOLBENCH_SHA256", "petoolbench_remote"]

PETOOLBENCH_COMMIT = "55b0a58db57653e7643a6fe760ebb9fbc4e22338"
PETOOLBENCH_SHA256 = "b9a8e48817e1a92ee3b7adb258e0525bc3ab82b8d8cae52ccd91013e687816c5"


def _verifier(expected: str) -> Callable[[Path], str]:
    def verify(root: Path) -> str:
        archive = root / ZIP_FILE
        found = hashlib.sha256(archive.read_bytes()).hexdigest()
        if found != expected:
            raise DataError(ZIP_FILE, f"sha256 {found} does not match the pinned {expected}")
        (root / DATA_FILE).write_bytes(read_zip_member(archive))
        samples = load_petoolbench("all", root / DATA_FILE)  # proves pertool can read what it keeps
        entries = len(samples) // 3
        return (f"{entries} entries ({len(samples)} samples in 3 settings); sha256 verified, "
                f"{DATA_FILE} extracted")  # fmt: skip

    return verify


def petoolbench_remote(sha256: str | None = None) -> RemoteDataset:
    """PEToolBench at the pinned commit. `sha256` replaces the pinned hash: for tests, which
    cannot ship the real zip; users cannot reach it (no option or variable sets it)."""
    return RemoteDataset(
        name="petoolbench",
        base_url=f"https://raw.githubusercontent.com/travis-xu/PEToolBench/{PETOOLBENCH_COMMIT}/",
        files=(ZIP_FILE,),
        verify=_verifier(PETOOLBENCH_SHA256 if sha256 is None else sha256),
        produces=(DATA_FILE,),
    )


PETOOLBENCH_REMOTE = petoolbench_remote()
