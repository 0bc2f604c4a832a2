"""The OpenAI chat-completions wire format, for any server that speaks it.

One class serves OpenAI, vLLM, SGLang, Ollama, llama.cpp, TGI, DeepSeek, DashScope, OpenRouter
and `pertool mock-server`: only the base URL and the key differ. Retries live here (429, 5xx,
timeouts, dropped connections, malformed bodies), with exponential backoff, full jitter, a cap,
and `Retry-After` honoured. A refusal of a prompt too long for the model's context window is a
`ContextOverflow` (see context_refusal), never retried. Concurrency is bounded by the runner.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from pertool.errors import BackendError
from pertool.models.base import Completion, Request
from pertool.models.context_refusal import context_refusal
from pertool.models.registry import ModelOptions, deadline_s
from pertool.models.wire import MalformedResponse, completion_from_body, load_body
from pertool.urls import redact_url, scrub, url_secrets

__all__ = ["OpenAICompatBackend", "RetryPolicy"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MB = 2**20
_ERROR_BODY_BYTES = 64 * 1024  # of an error body, enough to scrub and quote its start


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (full jitter, capped)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class OpenAICompatBackend:
    """`openai/<model>` and `openai-compatible/<model>` (and the transport under `vllm/`).

    Every attempt is bounded three ways: `timeout_s` of silence (httpx's read timeout),
    `deadline_s` for the whole attempt (a server trickling a byte a second never ends
    otherwise) and `max_response_bytes` read (streamed; a larger body is refused, not retried).
    `retries` and `last_retry_reason` say how often requests were retried so far, and why.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        name: str = "openai-compatible",
        timeout_s: float = 120.0,
        deadline_s: float | None = None,
        max_response_bytes: int = 32 * MB,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
    ):
        self.name = name
        self.model = model
        self._url = base_url.rstrip("/")
        self.base_url = redact_url(self._url)  # what is shown and keyed; credentials stay in _url
        self._secrets = [s for s in (api_key, *url_secrets(self._url)) if s]
        self.retry = retry or RetryPolicy()
        self.deadline_s = deadline_s if deadline_s is not None else 2 * timeout_s
        self.max_response_bytes = max_response_bytes
        self.retries = 0  # retry attempts so far (shown in the progress line and the summary)
        self.last_retry_reason = ""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits)

    @classmethod
    def from_options(cls, model: str, base_url: str, options: ModelOptions, *, api_key: str | None = None,
                     name: str = "openai-compatible") -> OpenAICompatBackend:  # fmt: skip
        """A backend with the run's timeout, deadline, size cap and retry settings."""
        retry = RetryPolicy(max_attempts=options.max_attempts, max_delay_s=options.backoff_cap_s)
        return cls(model, base_url, api_key=api_key, name=name, timeout_s=options.timeout_s,
                   deadline_s=deadline_s(options), max_response_bytes=int(options.max_response_mb * MB),
                   retry=retry)  # fmt: skip

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, request: Request) -> Completion:
        body = self._body(request)
        url = _endpoint(self._url, "chat/completions")
        last: BackendError | None = None
        for attempt in range(max(1, self.retry.max_attempts)):  # --max-attempts 0: still one
            if attempt:
                assert last is not None
                self.retries += 1
                self.last_retry_reason = str(last)[:200]
                await asyncio.sleep(self.retry.delay(attempt - 1, last.retry_after))
            started = time.perf_counter()
            try:
                completion = await self._post(url, body)
            except BackendError as exc:
                if not exc.retryable:
                    raise
                last = exc
                continue
            completion.latency_s = time.perf_counter() - started
            return completion
        assert last is not None
        attempts = self.retry.max_attempts
        raise BackendError(f"{last} (gave up after {attempts} attempts)" if attempts > 1 else str(last))

    def _body(self, request: Request) -> dict[str, Any]:
        if request.prompt is not None and not request.messages:
            messages: list[dict[str, Any]] = [{"role": "user", "content": request.prompt}]
        else:
            messages = list(request.messages)
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "temperature": request.sampling.temperature,
                                "max_tokens": request.sampling.max_tokens}  # fmt: skip
        if request.sampling.top_p is not None:
            body["top_p"] = request.sampling.top_p
        if request.sampling.stop:
            body["stop"] = list(request.sampling.stop)
        if request.tools:
            body["tools"] = list(request.tools)
        if request.response_format is not None:
            body["response_format"] = request.response_format
        return body

    async def _post(self, url: str, body: dict[str, Any]) -> Completion:
        shown = redact_url(url)
        try:
            return await asyncio.wait_for(self._attempt(url, shown, body), self.deadline_s)
        except asyncio.TimeoutError:
            raise BackendError(f"{shown}: no complete answer within the {self.deadline_s:g} s deadline",
                               retryable=True) from None  # fmt: skip

    async def _attempt(self, url: str, shown: str, body: dict[str, Any]) -> Completion:
        try:
            async with self._client.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    head = await self._read(response, _ERROR_BODY_BYTES, shown, cut=True)
                    # Scrub before cutting: a key straddling the cut would leave its head behind.
                    text = scrub(head.decode("utf-8", "replace"), self._secrets)
                    message = f"{shown}: HTTP {response.status_code}: {text[:200]}"
                    overflow = context_refusal(response.status_code, text, message)
                    if overflow is not None:  # the prompt is too long: never retried
                        raise overflow
                    raise BackendError(
                        message,
                        retryable=response.status_code in _RETRY_STATUS,
                        retry_after=_retry_after(response.headers.get("retry-after")),
                        fatal=response.status_code in (401, 403),
                    )  # fmt: skip
                data = await self._read(response, self.max_response_bytes, shown)
        except httpx.TimeoutException:
            raise BackendError(f"{shown}: timed out (no data for {self._client.timeout.read} s)",
                               retryable=True) from None  # fmt: skip
        except httpx.RequestError as exc:  # refused, reset, closed mid-response, bad encoding
            message = scrub(f"{type(exc).__name__}: {exc}", self._secrets)
            raise BackendError(f"{shown}: {message}", retryable=True) from None
        except httpx.InvalidURL as exc:
            raise BackendError(f"{shown}: {scrub(str(exc), self._secrets)}") from None
        try:
            return completion_from_body(load_body(bytes(data)))
        except MalformedResponse as exc:
            raise BackendError(f"{shown}: malformed response ({scrub(str(exc), self._secrets)})",
                               retryable=True) from None  # fmt: skip

    async def _read(self, response: httpx.Response, limit: int, shown: str, *,
                    cut: bool = False) -> bytearray:  # fmt: skip
        """The body, streamed; past `limit` bytes either cut there (`cut`) or refused."""
        declared = response.headers.get("content-length", "")
        if not cut and declared.isdigit() and int(declared) > limit:
            raise BackendError(f"{shown}: response of {int(declared)} bytes exceeds the "
                               f"{_mb(limit)} limit (--max-response-mb)")  # fmt: skip
        data = bytearray()
        async for chunk in response.aiter_bytes():
            if len(data) + len(chunk) > limit:
                if cut:
                    data += chunk[: limit - len(data)]
                    break
                raise BackendError(f"{shown}: response exceeds the {_mb(limit)} limit (--max-response-mb); "
                                   "stopped reading")  # fmt: skip
            data += chunk
        return data


def _endpoint(base_url: str, path: str) -> str:
    """`path` appended to the base URL's path, its query (an `?api-version=`) kept."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{path}", parts.query, ""))


def _mb(size: int) -> str:
    return f"{size / MB:g} MB"


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds or as an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_completion = completion_from_body  # the name older tests and plugins import
