"""The OpenAI chat-completions wire format, for any server that speaks it.

One class serves OpenAI, vLLM, SGLang, Ollama, llama.cpp, TGI, DeepSeek, DashScope, OpenRouter
and `pertool mock-server`: only the base URL and the key differ. Retries live here (429, 5xx,
timeouts, dropped connections, malformed bodies), with exponential backoff, full jitter, a cap,
and `Retry-After` honoured. Concurrency is bounded by the runner.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from pertool.models.base import BackendError, Completion, Request

__all__ = ["OpenAICompatBackend", "RetryPolicy"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


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
    """`openai/<model>` and `openai-compatible/<model>` (and the transport under `vllm/`)."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        name: str = "openai-compatible",
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
    ):
        self.name = name
        self.model = model
        self._secret = api_key
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.retries = 0  # retry attempts so far (shown in the progress line and the summary)
        self.last_retry_reason = ""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, request: Request) -> Completion:
        body = self._body(request)
        url = f"{self.base_url}/chat/completions"
        last: BackendError | None = None
        for attempt in range(self.retry.max_attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1, last.retry_after if last else None))
            started = time.perf_counter()
            try:
                completion = await self._post(url, body)
            except BackendError as exc:
                if not exc.retryable:
                    raise
                last = exc
                if attempt + 1 < self.retry.max_attempts:
                    self.retries += 1
                    self.last_retry_reason = str(exc)[:200]
                continue
            completion.latency_s = time.perf_counter() - started
            return completion
        assert last is not None
        raise BackendError(f"{last} (gave up after {self.retry.max_attempts} attempts)")

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
        try:
            response = await self._client.post(url, json=body)
        except httpx.TimeoutException:
            raise BackendError(f"{url}: timed out", retryable=True) from None
        except httpx.TransportError as exc:  # refused, reset, closed mid-response
            raise BackendError(f"{url}: {type(exc).__name__}: {exc}", retryable=True) from None
        if response.status_code != 200:
            retryable = response.status_code in _RETRY_STATUS
            detail = response.text[:200]
            if self._secret:  # a server may echo the key back; it must not reach errors.jsonl
                detail = detail.replace(self._secret, "***")
            raise BackendError(
                f"{url}: HTTP {response.status_code}: {detail}",
                retryable=retryable, retry_after=_retry_after(response.headers.get("retry-after")),
                fatal=response.status_code in (401, 403),
            )  # fmt: skip
        try:
            return _completion(response.json())
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{url}: malformed response ({exc})", retryable=True) from None


def _completion(data: dict[str, Any]) -> Completion:
    message = data["choices"][0]["message"]
    usage = data.get("usage") or {}
    calls = []
    for call in message.get("tool_calls") or []:
        function = call["function"]
        calls.append({"name": function["name"], "arguments": function.get("arguments", "{}")})
    return Completion(
        text=message.get("content") or "",
        tool_calls=calls,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_arguments(arguments: str | dict[str, Any]) -> dict[str, Any]:
    """Tool-call arguments arrive as a JSON string (OpenAI) or an object (some servers)."""
    if isinstance(arguments, dict):
        return arguments
    value = json.loads(arguments or "{}")
    if not isinstance(value, dict):
        raise ValueError("tool-call arguments are not a JSON object")
    return value
