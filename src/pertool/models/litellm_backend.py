"""`litellm/<provider>/<model>`: any provider LiteLLM speaks (Anthropic, Bedrock, Vertex, ...).

LiteLLM is an optional extra, imported only when this prefix is used. It owns retries here
(`num_retries`), so the errors it finally raises are not retried again by the runner. The key
comes from the variable named by --api-key-env if given; a server on this machine (--base-url on
loopback) gets a placeholder, as with `openai-compatible/`; otherwise LiteLLM reads the
provider's usual variable (ANTHROPIC_API_KEY, ...) itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from importlib import import_module
from importlib.util import find_spec
from typing import Any
from urllib.parse import urlsplit

from pertool.models.base import BackendError, Completion, MissingCredential, MissingDependency, Request
from pertool.models.registry import ModelOptions
from pertool.schema import Sample

__all__ = ["LiteLLMBackend", "create"]

# LiteLLM fetches its price map and other tables from GitHub at import unless told to use the
# copies it ships; evaluation runs must not depend on the network (or leak that they happen).
_OFFLINE_VARIABLES = (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS",
    "LITELLM_LOCAL_BLOG_POSTS",
    "LITELLM_LOCAL_POLICY_TEMPLATES",
)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The OpenAI client refuses to send a request without a key; a local server ignores it, and the
# user's real provider key has no business going there.
_PLACEHOLDER_KEY = "no-key-needed"
_skip_mcp: bool | None = None


def _skip_mcp_handler() -> bool:
    """Whether to pass `_skip_mcp_handler=True` (a LiteLLM-internal flag it strips before sending).

    Recent LiteLLM sends every request with tools through an MCP handler that imports the `mcp`
    package, which is only installed with its `mcp` extra: without it, any tool call fails. Our
    tools are plain functions, never MCP servers, so the handler has nothing to do. Releases that
    predate the handler do not know the flag either, so it is passed only where the handler exists.
    """
    global _skip_mcp
    if _skip_mcp is None:
        _skip_mcp = find_spec("litellm.responses.mcp.chat_completions_handler") is not None
    return _skip_mcp


def _litellm() -> Any:
    for variable in _OFFLINE_VARIABLES:
        os.environ.setdefault(variable, "True")  # an explicit user setting still wins
    try:
        # import_module keeps mypy out of LiteLLM's very large package.
        litellm: Any = import_module("litellm")
    except ImportError:
        raise MissingDependency("the litellm backend", "litellm") from None
    litellm.telemetry = False  # older releases report usage unless told not to
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner printed on each error
    return litellm


class LiteLLMBackend:
    name = "litellm"

    def __init__(self, model: str, options: ModelOptions):
        self.model = model
        self.options = options
        self._api_key: str | None = None
        if options.api_key_env:
            self._api_key = os.environ.get(options.api_key_env)
            if not self._api_key:
                raise MissingCredential(options.api_key_env, f"litellm/{model}")
        elif options.base_url and urlsplit(options.base_url).hostname in _LOOPBACK:
            self._api_key = _PLACEHOLDER_KEY

    def identity(self) -> dict[str, Any]:
        return {"backend": "litellm", "model": self.model, "base_url": self.options.base_url}

    async def complete(self, request: Request) -> Completion:
        litellm = _litellm()
        started = time.perf_counter()
        try:
            response = await litellm.acompletion(**self._arguments(request))
        except Exception as exc:  # LiteLLM maps every provider failure to its own exception types
            raise BackendError(f"litellm/{self.model}: {_short(exc)}") from None
        try:
            completion = _completion(response)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise BackendError(f"litellm/{self.model}: malformed response ({exc})") from None
        completion.latency_s = time.perf_counter() - started
        return completion

    def _arguments(self, request: Request) -> dict[str, Any]:
        if request.prompt is not None and not request.messages:
            messages: list[dict[str, Any]] = [{"role": "user", "content": request.prompt}]
        else:
            messages = list(request.messages)
        sampling = request.sampling
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "timeout": self.options.timeout_s,
            "num_retries": max(0, self.options.max_attempts - 1),
        }
        optional = {
            "tools": list(request.tools),
            "top_p": sampling.top_p,
            "stop": list(sampling.stop),
            "api_base": self.options.base_url,
            "api_key": self._api_key,
        }
        # Unset values are left out, not sent as null: some providers reject `tools: []`.
        arguments.update({key: value for key, value in optional.items() if value not in (None, [])})
        if request.tools and _skip_mcp_handler():
            arguments["_skip_mcp_handler"] = True
        return arguments

    async def aclose(self) -> None:
        pass  # LiteLLM caches its HTTP clients process-wide and closes them itself at exit


def _completion(response: Any) -> Completion:
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    calls = [
        {"name": call.function.name, "arguments": call.function.arguments or "{}"}
        for call in getattr(message, "tool_calls", None) or []
    ]
    return Completion(
        text=message.content or "",
        tool_calls=calls,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _short(exc: Exception) -> str:
    """LiteLLM's messages run to pages (request dumps, help links): keep the first line."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> LiteLLMBackend:
    _litellm()  # a missing extra is reported when the run is set up, not at the first request
    return LiteLLMBackend(rest, options)
