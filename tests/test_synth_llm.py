"""SynthLLM against a real loopback server: schema fallback, validation retries, caching."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from pertool.modelcalls.cache import ResponseCache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.llm import StageStats, SynthLLM, inputs_of
from support.openai_stub import Reply, StubRequest, StubServer, chat


class Answer(BaseModel):
    n: int


def doubling(reject_schema: bool, garbage_first: bool):
    """Doubles x; rejects response_format if told to; answers garbage to first attempts if told to."""

    def respond(body: Any, request: StubRequest) -> Reply:
        if reject_schema and "response_format" in body:
            return Reply(400, json={"error": {"message": "response_format is not supported"}})
        _, inputs = inputs_of(body["messages"])
        retry = len(body["messages"]) > 2  # the error and the earlier answer were appended
        content = "not json at all" if garbage_first and not retry else json.dumps({"n": inputs["x"] * 2})
        return Reply(json=chat(content, usage={"prompt_tokens": 10, "completion_tokens": 2}))

    return respond


def ask(server: StubServer, cache: ResponseCache, stats: StageStats) -> Answer | None:
    async def go() -> Answer | None:
        backend = create_backend("openai-compatible/m", ModelOptions(base_url=server.url, max_attempts=1))
        try:
            return await SynthLLM(backend, cache, Sampling()).ask("test.double", "Double x.", {"x": 21}, Answer, stats)
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(("reject_schema", "garbage_first"), [(False, False), (True, False), (False, True), (True, True)])
def test_answers_validate_retry_and_cache(tmp_path, stub_server, reject_schema, garbage_first):
    server = stub_server(doubling(reject_schema, garbage_first))
    cache = ResponseCache(tmp_path / "c.sqlite3")
    stats = StageStats()
    assert ask(server, cache, stats) == Answer(n=42)
    sent = len(server.bodies())
    assert sent == 1 + reject_schema + garbage_first
    assert server.bodies()[0]["response_format"]["json_schema"]["name"] == "test.double"
    if reject_schema:
        assert "response_format" not in server.bodies()[-1]
    assert stats.calls == 1 + garbage_first and stats.input_tokens == 10 * stats.calls
    again = StageStats()
    assert ask(server, cache, again) == Answer(n=42)  # from the cache: nothing sent
    assert len(server.bodies()) == sent and again.calls == 0 and again.cached >= 1


def test_gives_up_after_the_attempts_and_counts_it(tmp_path, stub_server):
    server = stub_server(doubling(reject_schema=False, garbage_first=True))

    async def go() -> Answer | None:
        backend = create_backend("openai-compatible/m", ModelOptions(base_url=server.url, max_attempts=1))
        llm = SynthLLM(backend, None, Sampling(), attempts=1)  # one attempt: the garbage answer
        try:
            return await llm.ask("test.double", "Double x.", {"x": 1}, Answer, stats)
        finally:
            await backend.aclose()

    stats = StageStats()
    assert asyncio.run(go()) is None
    assert stats.rejected["invalid_output"] == 1
    assert len(server.requests) == 1
