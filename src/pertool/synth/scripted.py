"""The scripted LLM behind `pertool mock-server --scripted`: answers every synthesis request
deterministically from the request itself (its task name and JSON inputs), with schema-valid
JSON built to be coherent with the inputs, so the whole pipeline runs offline and yields
samples that pass verification. Each stage module contributes the answers of its tasks."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

__all__ = ["answer", "known_tasks"]

_STAGE_MODULES = ("tools", "features", "users", "histories", "queries", "solutions", "verify",
                  "environment", "ts_samples")  # the last two: ToolSpectrum mode (ts)


def _registry() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    tasks: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
    for name in _STAGE_MODULES:
        try:
            module = import_module(f"pertool.synth.stages.{name}")
        except ModuleNotFoundError:
            continue
        tasks.update(getattr(module, "SCRIPTED", {}))
    return tasks


def known_tasks() -> list[str]:
    return sorted(_registry())


def answer(task: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The scripted answer to one task; KeyError for a task no stage defines."""
    return _registry()[task](inputs)
