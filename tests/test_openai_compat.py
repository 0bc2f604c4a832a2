"""The OpenAI-compatible client: retry policy, Retry-After, error classes, response mapping."""

import asyncio
import email.utils
import time

import pytest

from pertool.errors import BackendError
from pertool.models.base import Request
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy, _completion, _retry_after
from support.openai_stub import Reply


def test_backoff_is_capped_jittered_and_honours_retry_after():
    policy = RetryPolicy(max_attempts=6, base_delay_s=1.0, max_delay_s=30.0)
    delays = [policy.delay(attempt, None) for attempt in range(12) for _ in range(20)]
    assert all(0 <= d <= 30.0 for d in delays)
    assert max(delays) > 10  # grows exponentially before the cap
    assert policy.delay(0, 7.5) == 7.5
    assert policy.delay(3, 120.0) == 30.0  # a server asking for more than the cap gets the cap


def test_retry_after_in_seconds_or_as_a_date():
    assert _retry_after("3") == 3.0
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= _retry_after(soon) <= 21
    assert _retry_after("soon-ish") is None and _retry_after(None) is None


def test_tool_calls_and_usage_are_mapped():
    data = {"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    completion = _completion(data)
    assert completion.text == "" and completion.tool_calls == [{"name": "f", "arguments": "{\"a\": 1}"}]
    assert (completion.input_tokens, completion.output_tokens) == (12, 3)


def test_gives_up_after_max_attempts_and_does_not_retry_client_errors(serve_dir, tmp_path):
    # A static file server answers POST with 501: a client error that retrying cannot fix.
    url = serve_dir(tmp_path)
    backend = OpenAICompatBackend("m", url, retry=RetryPolicy(max_attempts=3, max_delay_s=0))
    with pytest.raises(BackendError) as info:
        asyncio.run(backend.complete(Request(messages=({"role": "user", "content": "hi"},))))
    assert "HTTP 501" in str(info.value) and not info.value.retryable
    refused = OpenAICompatBackend("m", "http://127.0.0.1:9/v1", retry=RetryPolicy(max_attempts=3, max_delay_s=0))
    with pytest.raises(BackendError, match="gave up after 3 attempts"):
        asyncio.run(refused.complete(Request(messages=({"role": "user", "content": "hi"},))))


def test_a_rejected_key_is_fatal_and_never_echoed(stub_server):
    # The server echoes the key it was sent in its 401 body: the error must not repeat it.
    server = stub_server(lambda body, request: Reply(401, raw=("bad key: " + request.headers["authorization"]).encode()))
    backend = OpenAICompatBackend("m", server.url, api_key="sk-very-secret-123")

    async def ask() -> None:
        try:
            await backend.complete(Request(messages=({"role": "user", "content": "hi"},)))
        finally:
            await backend.aclose()  # the stub keeps connections alive

    with pytest.raises(BackendError) as info:
        asyncio.run(ask())
    assert server.requests[0].headers["authorization"] == "Bearer sk-very-secret-123"
    assert info.value.fatal and "HTTP 401" in str(info.value)
    assert "sk-very-secret-123" not in str(info.value) and "***" in str(info.value)
