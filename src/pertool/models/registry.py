"""Model specs as users type them, mapped to backends.

    openai/<model>                 OpenAI; key from OPENAI_API_KEY (or --api-key-env)
    openai-compatible/<model>      any OpenAI-compatible server at --base-url; key from
                                   --api-key-env VAR, none needed for loopback servers
    litellm/<provider>/<model>     through LiteLLM (extra `litellm`)
    hf/<path>                      local Transformers model, optional --adapter (extra `hf`)
    vllm/<path>                    a managed `vllm serve`, optional --adapter
    vllm-batch/<path>              batch inference through Ray Data's LLM processors (vLLM engine;
                                   --batch-size requests per Ray Dataset, --vllm-args as engine kwargs)
    llamacpp/<name or path.gguf>   a managed llama.cpp server (llama-cpp-python, extra `llamacpp`)
                                   for a bundled model name or a GGUF file

Backends are LLMs only: a factory never sees the benchmark's samples. The answerers that read
samples (`oracle`, `replay/`, `baseline/`) are `pertool.answerers`; `pertool.answerers.create_model`
resolves every model spec, answerer or backend, in one place.

Third-party backends register a factory under the entry-point group `pertool.backends`; the
entry-point name is the spec prefix. A factory is called as `factory(rest, options)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from pertool.errors import MissingCredential, PertoolError, SpecError
from pertool.models.base import Backend
from pertool.urls import host_of, is_loopback, redact_url

__all__ = ["ModelOptions", "check_base_url", "create_backend", "deadline_s", "known_prefixes"]

ENTRY_POINT_GROUP = "pertool.backends"
OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ModelOptions:
    """Everything a backend may need besides its spec; saved in a run's config.json."""

    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable, never the key
    adapter: str | None = None
    vllm_args: str = ""
    llamacpp_args: str = ""  # extra flags for `python -m llama_cpp.server`
    timeout_s: float = 120.0  # longest silence while waiting for or reading an answer
    deadline_s: float | None = None  # longest whole attempt (headers + body); None: 2 x timeout_s
    max_response_mb: float = 32.0  # a larger answer is a per-sample error, read no further
    max_attempts: int = 6
    backoff_cap_s: float = 30.0
    batch_size: int = 8
    train: str | None = None  # benchmark spec a learned baseline trains on (baseline/rules)
    data_dir: str | None = None  # where that spec's data lives (ToolSpectrum)


Factory = Callable[[str, ModelOptions], Backend]


def _openai(rest: str, options: ModelOptions) -> Backend:
    variable = options.api_key_env or "OPENAI_API_KEY"
    key = os.environ.get(variable)
    if not key:
        raise MissingCredential(variable, f"openai/{rest}")
    if options.base_url:
        check_base_url(options.base_url)
    return _openai_backend(rest, options.base_url or OPENAI_URL, key, "openai", options)


def _openai_compatible(rest: str, options: ModelOptions) -> Backend:
    if not options.base_url:
        raise SpecError(f"openai-compatible/{rest} needs --base-url, e.g. http://127.0.0.1:8000/v1")
    check_base_url(options.base_url)
    key = None
    if options.api_key_env:
        key = os.environ.get(options.api_key_env)
        if not key:
            raise MissingCredential(options.api_key_env, f"openai-compatible/{rest}")
    elif not is_loopback(options.base_url):
        raise SpecError(f"openai-compatible/{rest} at {redact_url(options.base_url)} is not on this machine: "
                        "name the variable holding its key with --api-key-env VAR")  # fmt: skip
    return _openai_backend(rest, options.base_url, key, "openai-compatible", options)


def _openai_backend(model: str, url: str, key: str | None, name: str, options: ModelOptions) -> Backend:
    from pertool.models.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend.from_options(model, url, options, api_key=key, name=name)


def deadline_s(options: ModelOptions) -> float:
    """The bound on one whole attempt: --deadline, else twice --timeout (a server may be silent
    for up to --timeout before its headers, then must not take as long again for the body)."""
    return options.deadline_s if options.deadline_s is not None else 2 * options.timeout_s


def check_base_url(url: str) -> None:
    """A server URL must be http(s) with a plain host; said at setup, not as a failure per sample."""
    if host_of(url) is None or urlsplit(url).scheme not in ("http", "https"):
        raise SpecError(f"--base-url {redact_url(url)}: expected http(s)://host[:port]/path")


def _lazy(module: str, attribute: str) -> Factory:
    """A factory imported only when its prefix is used (heavy or optional dependencies)."""

    def factory(rest: str, options: ModelOptions) -> Backend:
        return getattr(import_module(module), attribute)(rest, options)  # type: ignore[no-any-return]

    return factory


BUILTIN: dict[str, Factory] = {
    "openai": _openai,
    "openai-compatible": _openai_compatible,
    "litellm": _lazy("pertool.models.litellm_backend", "create"),
    "hf": _lazy("pertool.models.hf", "create"),
    "vllm": _lazy("pertool.models.vllm", "create"),
    "vllm-batch": _lazy("pertool.models.vllm_batch", "create"),
    "llamacpp": _lazy("pertool.models.llamacpp", "create"),
}


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_prefixes() -> list[str]:
    return [*BUILTIN, *(p for p in _plugins() if p not in BUILTIN)]


def create_backend(spec: str, options: ModelOptions) -> Backend:
    """The LLM backend for a spec (`pertool.answerers.create_model` for any model spec)."""
    prefix, _, rest = spec.partition("/")
    factory: Factory | None = BUILTIN.get(prefix)
    if factory is None and prefix in (plugins := _plugins()):
        factory = plugins[prefix].load()
    if factory is None:
        raise SpecError(f"unknown model spec {spec!r}; prefixes: {', '.join(known_prefixes())}")
    if not rest:
        raise SpecError(f"model spec {spec!r} needs a model after '{prefix}/'")
    try:
        return factory(rest, options)
    except ValueError as exc:  # an option value the backend cannot use: one line, not a traceback
        raise PertoolError(f"model {spec!r}: {exc}") from None
