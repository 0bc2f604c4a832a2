"""The `datasets` package, imported only when an hf export or an `hf:PATH` spec needs it."""

from __future__ import annotations

from types import ModuleType

from pertool.errors import MissingDependency

__all__ = ["EXTRA", "datasets_module"]

EXTRA = "datasets"


def datasets_module() -> ModuleType:
    try:
        import datasets
    except ImportError:
        raise MissingDependency("Hugging Face datasets support", EXTRA) from None
    datasets.disable_progress_bars()  # pertool prints its own summary; the bars would fill stderr
    return datasets
