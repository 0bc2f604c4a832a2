"""pertool: personalized tool invocation for LLMs (PTBench, ToolSpectrum).

The public Python API, imported lazily so that `import pertool` (and the CLI's `--help`)
stays fast:

    samples = pertool.load_benchmark("ptbench:/path/to/PTBench")
    report = pertool.score(samples, {"trained:0": "MegaMart:[searchProducts(query='tea')]"})
    report.splits["overall"]["overall"]
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pertool.versions import __version__

_EXPORTS = {
    "load_benchmark": "pertool.kinds",
    "score": "pertool.kinds.score",
    "parse_ptbench": "pertool.parsing.ptbench",
    "render_ptbench": "pertool.parsing.render",
    "read_predictions": "pertool.predictions",
    "Sample": "pertool.schema",
    "Prediction": "pertool.schema",
    "Call": "pertool.schema",
    "GoldCall": "pertool.schema",
    "Tool": "pertool.schema",
    "Platform": "pertool.schema",
    "Profile": "pertool.schema",
    "Environment": "pertool.schema",
    "ScoreReport": "pertool.scoring.results",
    "PertoolError": "pertool.errors",
    "DataError": "pertool.errors",
}
__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pertool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
