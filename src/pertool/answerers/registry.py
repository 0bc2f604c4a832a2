"""Every model spec resolved in one place: an answerer prefix gets the benchmark's samples, a
backend prefix (`pertool.models.registry`: LLMs, entry-point plugins) does not.

    oracle                         answers the gold (sanity checks)
    baseline/random|history|rules  non-LLM baselines
    replay/<predictions.jsonl>     answers from an earlier run's predictions
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module

from pertool.errors import PertoolError, SpecError
from pertool.models.base import Backend
from pertool.models.registry import ModelOptions, create_backend, known_prefixes
from pertool.schema import Sample

__all__ = ["ANSWERERS", "create_model", "model_prefixes"]

AnswererFactory = Callable[[str, ModelOptions, Sequence[Sample]], Backend]


# prefix -> (module with `create(rest, options, samples)`, imported on first use; whether the
# spec needs a part after '/')
ANSWERERS: dict[str, tuple[str, bool]] = {
    "oracle": ("pertool.answerers.oracle", False),
    "baseline": ("pertool.answerers.baseline", True),
    "replay": ("pertool.answerers.replay", True),
}


def model_prefixes() -> list[str]:
    """Every model spec prefix: the answerers', then the backends' (plugins included)."""
    return [*ANSWERERS, *(p for p in known_prefixes() if p not in ANSWERERS)]


def create_model(spec: str, options: ModelOptions, samples: Sequence[Sample] = ()) -> Backend:
    """The model a spec names: an answerer reading `samples`, else an LLM backend."""
    prefix, _, rest = spec.partition("/")
    if prefix not in ANSWERERS:
        if prefix not in known_prefixes():
            raise SpecError(f"unknown model spec {spec!r}; prefixes: {', '.join(model_prefixes())}")
        return create_backend(spec, options)
    module, needs_rest = ANSWERERS[prefix]
    if needs_rest and not rest:
        raise SpecError(f"model spec {spec!r} needs a model after '{prefix}/'")
    factory: AnswererFactory = import_module(module).create
    try:
        return factory(rest, options, samples)
    except ValueError as exc:  # an option value the answerer cannot use: one line, not a traceback
        raise PertoolError(f"model {spec!r}: {exc}") from None
