"""pertool: personalized tool invocation for LLMs (PTBench, ToolSpectrum).

The public Python API, imported lazily so that `import pertool` (and the CLI's `--help`)
stays fast; type checkers see the real imports below (`py.typed` ships with the package):

    samples = pertool.load_benchmark("ptbench:/path/to/PTBench")
    report = pertool.score(samples, {"trained:0": "MegaMart:[searchProducts(query='tea')]"})
    report.splits["overall"]["overall"]

    report = pertool.evaluate("example", "oracle", out="runs/oracle")  # `pertool eval` from Python
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pertool.versions import __version__

if TYPE_CHECKING:
    from pertool.errors import DataError, PertoolError, SpecError
    from pertool.kinds import load_benchmark
    from pertool.kinds.score import score
    from pertool.models.registry import ModelOptions
    from pertool.parsing.ptbench import parse_ptbench
    from pertool.parsing.render import render_ptbench
    from pertool.predictions import read_predictions
    from pertool.runner.evaluate import evaluate
    from pertool.schema import Call, Environment, GoldCall, Platform, Prediction, Profile, Sample, Tool
    from pertool.scoring.results import ScoreReport

# name -> the module that defines it (imported on first use)
_EXPORTS = {
    "load_benchmark": "pertool.kinds",
    "score": "pertool.kinds.score",
    "evaluate": "pertool.runner.evaluate",
    "ModelOptions": "pertool.models.registry",
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
    "SpecError": "pertool.errors",
}
__all__ = [
    "Call",
    "DataError",
    "Environment",
    "GoldCall",
    "ModelOptions",
    "PertoolError",
    "Platform",
    "Prediction",
    "Profile",
    "Sample",
    "ScoreReport",
    "SpecError",
    "Tool",
    "__version__",
    "evaluate",
    "load_benchmark",
    "parse_ptbench",
    "read_predictions",
    "render_ptbench",
    "score",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pertool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
