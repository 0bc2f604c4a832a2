"""The built-in benchmark as a dataset: a generated benchmark written in the `dataset:DIR` format
(with its generator's manifest), and the cached copy behind the `builtin` and `builtin-mini`
specs (generated once per generator version, then loaded from the cache)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pertool.benchmarks.dataset import Format, load_dataset, write_samples
from pertool.builtin.generate import GENERATOR_VERSION, MINI, Generated, GeneratorSettings, generate
from pertool.errors import PertoolError
from pertool.fileio import make_temp_dir
from pertool.locking import FileLock
from pertool.schema import Sample

__all__ = ["BUILD_WAIT_S", "BUILTINS", "load_builtin", "write_dataset"]


def write_dataset(generated: Generated, out: Path, fmt: Format = "pertool") -> list[Path]:
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "settings": generated.settings.manifest(),
        "counts": {"train": len(generated.train), "test": len(generated.test)},
        "rejected": dict(sorted(generated.rejected.items())),
    }
    return write_samples(generated.train, generated.test, out, fmt, manifest, profiles=generated.profiles,
                         profile_features=generated.profile_features)  # fmt: skip



# How long a process waits for another one that is generating the cache (normally seconds).
BUILD_WAIT_S = 600.0

# The generated benchmarks a spec names: builtin (the paper's sizes) and builtin-mini (compact).
BUILTINS: dict[str, GeneratorSettings] = {"builtin": GeneratorSettings(), "builtin-mini": MINI}


def load_builtin(split: Literal["train", "test"], cache_root: Path, name: str = "builtin") -> list[Sample]:
    """A built-in benchmark (`BUILTINS`), generated once and cached under `cache_root`.

    Safe when several processes use it first at once: one generates (under a lock) into a
    staging directory and publishes it with one rename; the others wait for the lock and find it
    published. manifest.json is written first, but the directory only appears complete."""
    settings = BUILTINS[name]
    root = cache_root / f"{name}-v{GENERATOR_VERSION}-seed{settings.seed}"
    if not (root / "manifest.json").is_file():
        try:
            cache_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PertoolError(f"cache directory {cache_root}: cannot create it ({exc.strerror})") from None
        with FileLock(cache_root / f".{root.name}.lock") as lock:
            lock.acquire(BUILD_WAIT_S, f"another pertool process is generating the built-in benchmark "
                         f"in {cache_root}")  # fmt: skip
            if not (root / "manifest.json").is_file():  # not published while we waited
                _build(settings, root)
    return load_dataset(root, split)


def _build(settings: GeneratorSettings, root: Path) -> None:
    staging = make_temp_dir(root.parent, ".builtin-")  # not mkdtemp: its 0700 would stay
    try:
        write_dataset(generate(settings), staging)
        if root.exists():  # a leftover without a manifest (an older pertool's torn cache)
            stale = make_temp_dir(root.parent, ".stale-")
            root.rename(stale / root.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            staging.rename(root)  # atomic: readers see no cache or the whole cache
        except OSError:
            if not (root / "manifest.json").is_file():  # published by a process without the lock
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
