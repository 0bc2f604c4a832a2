"""`litellm/<provider>/<model>` against a loopback OpenAI-compatible server: LiteLLM's real
request path, with no network beyond 127.0.0.1.

No filterwarnings mark: LiteLLM 1.106 imports and answers without a warning under `-W error`.
Add a narrow one here (naming the message and category) if a later release starts warning."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from pertool.errors import BackendError, MissingCredential, MissingDependency
from pertool.models.base import Completion, Request
from pertool.models.registry import ModelOptions, create_backend
from pertool.testing.backends import complete_once
from support.openai_stub import Reply, StubRequest, StubServer, chat, tool_calls

HELLO = Request(messages=({"role": "user", "content": "hello"},))
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def answer(body: Any, request: StubRequest) -> Reply:
    """Like an OpenAI chat-completions endpoint: an echo of the model name, or a tool call."""
    if body.get("tools"):
        return Reply(json=tool_calls(("get_weather", '{"city": "Paris"}'), content=None)
                     | {"model": body["model"], "usage": USAGE})  # fmt: skip
    return Reply(json=chat(f"echo from {body['model']}", usage=USAGE, model=body["model"]))


USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


@pytest.fixture
def server(stub_server) -> StubServer:
    return stub_server(answer)


def complete(server: StubServer, request: Request = HELLO, **options: Any) -> Completion:
    backend = create_backend("litellm/openai/test-model", ModelOptions(base_url=server.url, **options))

    return complete_once(backend, request)


def headers(server: StubServer) -> dict[str, str]:
    return server.requests[0].headers


def test_text_and_usage_round_trip(server: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")  # must not be sent to a server on loopback
    completion = complete(server)
    assert completion.text == "echo from test-model"
    assert (completion.input_tokens, completion.output_tokens) == (11, 3)
    assert completion.tool_calls == []
    (seen,) = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body["messages"] == [{"role": "user", "content": "hello"}]
    assert seen.body["temperature"] == 0.0 and seen.body["max_tokens"] == 512
    assert "tools" not in seen.body
    assert "sk-real-secret" not in headers(server)["authorization"]


def test_a_raw_prompt_becomes_one_user_message(server: StubServer) -> None:
    complete(server, Request(prompt="raw text"))
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "raw text"}]


def test_tool_calls_come_back_openai_shaped(server: StubServer) -> None:
    completion = complete(server, Request(messages=HELLO.messages, tools=(TOOL,)))
    assert completion.tool_calls == [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert server.requests[0].body["tools"] == [TOOL]


def test_api_key_from_the_named_variable_reaches_the_server(
    server: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_GATEWAY_KEY", "sk-test-123")
    complete(server, api_key_env="MY_GATEWAY_KEY")
    assert headers(server)["authorization"] == "Bearer sk-test-123"


def test_unset_key_variable_is_a_clear_error(server: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_GATEWAY_KEY", raising=False)
    with pytest.raises(MissingCredential, match="MY_GATEWAY_KEY"):
        create_backend("litellm/openai/test-model", ModelOptions(api_key_env="MY_GATEWAY_KEY"))


def test_provider_error_becomes_a_short_backend_error(server: StubServer) -> None:
    refusal = {"error": {"message": "bad request: no such thing", "type": "invalid_request_error"}}
    server.respond = lambda body, request: Reply(400, json=refusal)
    with pytest.raises(BackendError) as error:
        complete(server, max_attempts=1)
    message = str(error.value)
    assert message.startswith("litellm/openai/test-model: ")
    assert "bad request: no such thing" in message and "\n" not in message
    assert not error.value.retryable  # LiteLLM has already retried


def test_identity() -> None:
    backend = create_backend("litellm/anthropic/claude-3-5-sonnet", ModelOptions())
    assert (backend.name, backend.model) == ("litellm", "anthropic/claude-3-5-sonnet")
    assert backend.identity() == {
        "backend": "litellm",
        "model": "anthropic/claude-3-5-sonnet",
        "base_url": None,
    }


def test_litellm_is_told_to_stay_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)  # restored after the test
    create_backend("litellm/openai/test-model", ModelOptions())
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert sys.modules["litellm"].telemetry is False


def test_missing_litellm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes `import litellm` raise ImportError
    with pytest.raises(MissingDependency, match=r"pertool\[litellm\]"):
        create_backend("litellm/openai/test-model", ModelOptions())
