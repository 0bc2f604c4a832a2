"""`litellm/<provider>/<model>`: any provider LiteLLM speaks (Anthropic, Bedrock, Vertex, ...).

LiteLLM is an optional extra, imported only when this prefix is used. Retries are pertool's
(LiteLLM is told `num_retries=0`): the same policy, counters and per-attempt deadline as the
OpenAI-compatible client (`asyncio.wait_for` around each attempt; LiteLLM reads the body itself,
so --max-response-mb does not apply here). Answers go through the same boundary
(`pertool.models.wire`): a malformed one is a per-sample error. The key
comes from the variable named by --api-key-env if given; a server on this machine (--base-url on
loopback) gets a placeholder, as with `openai-compatible/`; otherwise LiteLLM reads the
provider's usual variable (ANTHROPIC_API_KEY, ...) itself.
"""

from __future__ import annotations

import asyncio
import os
import time
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from pertool.errors import BackendError, MissingCredential, MissingDependency
from pertool.models.base import Completion, Request
from pertool.models.context_refusal import context_overflow
from pertool.models.openai_compat import RetryPolicy
from pertool.models.registry import ModelOptions, check_base_url, deadline_s
from pertool.models.wire import MalformedResponse, completion_from_body
from pertool.urls import is_loopback, redact_url, scrub, url_secrets

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
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
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
        if options.base_url:
            check_base_url(options.base_url)
        if options.api_key_env:
            self._api_key = os.environ.get(options.api_key_env)
            if not self._api_key:
                raise MissingCredential(options.api_key_env, f"litellm/{model}")
        elif is_loopback(options.base_url):
            self._api_key = _PLACEHOLDER_KEY
        self._secrets = [s for s in (self._api_key, *url_secrets(options.base_url)) if s]
        self.retry = RetryPolicy(max_attempts=options.max_attempts, max_delay_s=options.backoff_cap_s)
        self.deadline_s = deadline_s(options)
        self.retries = 0
        self.last_retry_reason = ""

    def identity(self) -> dict[str, Any]:
        base_url = redact_url(self.options.base_url) if self.options.base_url else None
        return {"backend": "litellm", "model": self.model, "base_url": base_url}

    async def complete(self, request: Request) -> Completion:
        arguments = self._arguments(request)
        last: BackendError | None = None
        for attempt in range(max(1, self.retry.max_attempts)):  # --max-attempts 0: still one
            if attempt:
                assert last is not None
                self.retries += 1
                self.last_retry_reason = str(last)
                await asyncio.sleep(self.retry.delay(attempt - 1, None))
            try:
                return await self._attempt(arguments)
            except BackendError as exc:
                if not exc.retryable:
                    raise
                last = exc
        assert last is not None
        attempts = self.retry.max_attempts
        raise BackendError(f"{last} (gave up after {attempts} attempts)" if attempts > 1 else str(last))

    async def _attempt(self, arguments: dict[str, Any]) -> Completion:
        litellm = _litellm()
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(litellm.acompletion(**arguments), self.deadline_s)
        except asyncio.TimeoutError:
            raise BackendError(f"litellm/{self.model}: no complete answer within the {self.deadline_s:g} s "
                               "deadline", retryable=True) from None  # fmt: skip
        except Exception as exc:  # LiteLLM maps every provider failure to its own exception types
            status = getattr(exc, "status_code", None)
            text = scrub(str(exc), self._secrets)
            if isinstance(exc, litellm.ContextWindowExceededError):  # LiteLLM read the provider's wording
                message = f"litellm/{self.model}: {_short(text, type(exc).__name__)}"
                raise context_overflow(message, text) from None
            raise BackendError(
                f"litellm/{self.model}: {_short(text, type(exc).__name__)}",
                retryable=status in _RETRY_STATUS or isinstance(exc, litellm.APIConnectionError),
                fatal=status in (401, 403),
            ) from None
        try:
            completion = completion_from_body(_as_body(response))
        except MalformedResponse as exc:
            raise BackendError(f"litellm/{self.model}: malformed response "
                               f"({_short(scrub(str(exc), self._secrets), 'MalformedResponse')})",
                               retryable=True) from None  # fmt: skip
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
            "num_retries": 0,  # pertool retries (see complete)
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


def _as_body(response: Any) -> Any:
    """LiteLLM's response object as the plain JSON body it was made from."""
    if isinstance(response, dict):
        return response
    try:
        return response.model_dump(warnings=False)  # odd shapes are judged by wire, not warned about
    except Exception as exc:  # a shape LiteLLM itself could not represent
        raise MalformedResponse(f"unreadable response object ({type(exc).__name__})") from None


def _short(message: str, fallback: str) -> str:
    """LiteLLM's messages run to pages (request dumps, help links): keep the first line. Cut only
    after scrubbing: a key cut in half would no longer be recognised."""
    lines = message.strip().splitlines()
    first = lines[0] if lines else fallback
    return first if len(first) <= 300 else first[:297] + "..."


def create(rest: str, options: ModelOptions) -> LiteLLMBackend:
    _litellm()  # a missing extra is reported when the run is set up, not at the first request
    return LiteLLMBackend(rest, options)
