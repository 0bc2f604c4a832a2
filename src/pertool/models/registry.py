"""Model specs as users type them, mapped to backends.

    openai/<model>                 OpenAI; key from OPENAI_API_KEY (or --api-key-env)
    openai-compatible/<model>      any OpenAI-compatible server at --base-url; key from
                                   --api-key-env VAR, none needed for loopback servers
    litellm/<provider>/<model>     through LiteLLM (extra `litellm`)
    hf/<path>                      local Transformers model, optional --adapter (extra `hf`)
    vllm/<path>                    a managed `vllm serve`, optional --adapter
    oracle                         answers the gold (sanity checks)
    baseline/random|history        non-LLM baselines
    replay/<predictions.jsonl>     answers from an earlier run's predictions

Third-party backends register a factory under the entry-point group `pertool.backends`; the
entry-point name is the spec prefix. A factory is called as `factory(rest, options, samples)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from pertool.errors import SpecError
from pertool.models.base import Backend, MissingCredential
from pertool.schema import Sample

__all__ = ["ModelOptions", "create_backend", "known_prefixes"]

ENTRY_POINT_GROUP = "pertool.backends"
OPENAI_URL = "https://api.openai.com/v1"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class ModelOptions:
    """Everything a backend may need besides its spec; saved in a run's config.json."""

    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable, never the key
    adapter: str | None = None
    vllm_args: str = ""
    timeout_s: float = 120.0
    max_attempts: int = 6
    backoff_cap_s: float = 30.0
    batch_size: int = 8
    train: str | None = None  # benchmark spec a learned baseline trains on (baseline/rules)
    data_dir: str | None = None  # where that spec's data lives (ToolSpectrum)


Factory = Callable[[str, ModelOptions, Sequence[Sample]], Backend]


def _openai(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> Backend:
    variable = options.api_key_env or "OPENAI_API_KEY"
    key = os.environ.get(variable)
    if not key:
        raise MissingCredential(variable, f"openai/{rest}")
    return _openai_backend(rest, options.base_url or OPENAI_URL, key, "openai", options)


def _openai_compatible(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> Backend:
    if not options.base_url:
        raise SpecError(f"openai-compatible/{rest} needs --base-url, e.g. http://127.0.0.1:8000/v1")
    key = None
    if options.api_key_env:
        key = os.environ.get(options.api_key_env)
        if not key:
            raise MissingCredential(options.api_key_env, f"openai-compatible/{rest}")
    elif not any(host in options.base_url for host in _LOOPBACK):
        raise SpecError(f"openai-compatible/{rest} at {options.base_url} is not on this machine: "
                        "name the variable holding its key with --api-key-env VAR")  # fmt: skip
    return _openai_backend(rest, options.base_url, key, "openai-compatible", options)


def _openai_backend(model: str, url: str, key: str | None, name: str, options: ModelOptions) -> Backend:
    from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy

    retry = RetryPolicy(max_attempts=options.max_attempts, max_delay_s=options.backoff_cap_s)
    return OpenAICompatBackend(model, url, api_key=key, name=name, timeout_s=options.timeout_s, retry=retry)


def _lazy(module: str, attribute: str) -> Factory:
    """A factory imported only when its prefix is used (heavy or optional dependencies)."""

    def factory(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> Backend:
        return getattr(import_module(module), attribute)(rest, options, samples)  # type: ignore[no-any-return]

    return factory


BUILTIN: dict[str, Factory] = {
    "openai": _openai,
    "openai-compatible": _openai_compatible,
    "litellm": _lazy("pertool.models.litellm_backend", "create"),
    "hf": _lazy("pertool.models.hf", "create"),
    "vllm": _lazy("pertool.models.vllm", "create"),
    "oracle": _lazy("pertool.models.oracle", "create"),
    "baseline": _lazy("pertool.models.baseline", "create"),
    "replay": _lazy("pertool.models.replay", "create"),
}


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_prefixes() -> list[str]:
    return [*BUILTIN, *(p for p in _plugins() if p not in BUILTIN)]


def create_backend(spec: str, options: ModelOptions, samples: Sequence[Sample] = ()) -> Backend:
    prefix, _, rest = spec.partition("/")
    factory: Factory | None = BUILTIN.get(prefix)
    if factory is None and prefix in (plugins := _plugins()):
        factory = plugins[prefix].load()
    if factory is None:
        raise SpecError(f"unknown model spec {spec!r}; prefixes: {', '.join(known_prefixes())}")
    if not rest and prefix not in ("oracle",):
        raise SpecError(f"model spec {spec!r} needs a model after '{prefix}/'")
    return factory(rest, options, samples)
