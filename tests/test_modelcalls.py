"""The one call path of eval and synthesis (`pertool.modelcalls`) against a real loopback server
and a real SQLite cache: one cache entry for both, what reaches the cache, the `keep` rule, and
the accounting views metrics.json and summary.json print."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pertool.modelcalls import CachedCalls, ResponseCache, Unusable, Usage
from pertool.models.base import Backend, Completion, Request, Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.llm import StageStats, SynthLLM, inputs_of
from support.openai_stub import Reply, StubRequest, StubServer, chat

SECRET = "sk-test-SECRET-0d1e2f"


class Doubled(BaseModel):
    n: int


def doubling(body: Any, request: StubRequest) -> Reply:
    """Doubles the input's x; takes no response_format (as many local servers)."""
    if "response_format" in body:
        return Reply(400, json={"error": {"message": "response_format is not supported"}})
    _, inputs = inputs_of(body["messages"])
    return Reply(json=chat(json.dumps({"n": inputs["x"] * 2}), usage={"prompt_tokens": 10, "completion_tokens": 2}))


def backend_for(server: StubServer, monkeypatch: pytest.MonkeyPatch) -> Backend:
    monkeypatch.setenv("PERTOOL_TEST_KEY", SECRET)
    url = server.url.replace("http://", "http://user:pw-SECRET@")  # credentials in the URL, too
    return create_backend("openai-compatible/m", ModelOptions(base_url=url, max_attempts=1,
                                                              api_key_env="PERTOOL_TEST_KEY"))  # fmt: skip


def rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


async def eval_path(calls: CachedCalls, request: Request, recorded: list[Completion]) -> Completion:
    """As the runner asks: cached only once the answer is recorded."""

    def record(completion: Completion) -> str | None:
        recorded.append(completion)
        return None

    return await calls.complete(request, keep=record)


async def synth_path(backend: Backend, cache: ResponseCache | None, stats: StageStats, **kw: Any) -> Doubled | None:
    return await SynthLLM(backend, cache, Sampling(), **kw).ask("t.double", "Double x.", {"x": 21}, Doubled, stats)


@pytest.mark.parametrize("synth_first", [True, False])
def test_eval_and_synth_share_one_cache_entry(tmp_path, stub_server, monkeypatch, synth_first):
    """A synthesis request is the eval request plus a schema; with a server that takes none both
    send the same request, so one answer serves both (either order), under one cache key."""
    server = stub_server(doubling)
    cache = ResponseCache(tmp_path / "c.sqlite3")
    stats, recorded = StageStats(), []

    async def go() -> Completion:
        backend = backend_for(server, monkeypatch)
        try:
            # the synthesis prompt for x=21 as its schema-less request, the one the server answers
            await synth_path(backend, None, StageStats())
            plain = Request(messages=tuple(server.bodies()[-1]["messages"]), sampling=Sampling())
            calls = CachedCalls(backend, cache)
            if synth_first:
                assert await synth_path(backend, cache, stats) == Doubled(n=42)
                assert stats.calls == 1 and stats.input_tokens == 10
                answer = await eval_path(calls, plain, recorded)
                assert answer.cached and calls.usage.calls == 0 and calls.usage.cached == 1
            else:
                answer = await eval_path(calls, plain, recorded)
                assert not answer.cached and calls.usage.calls == 1
                assert await synth_path(backend, cache, stats) == Doubled(n=42)
                assert stats.calls == 0 and stats.cached == 1 and stats.input_tokens == 0
            return answer
        finally:
            await backend.aclose()

    answer = asyncio.run(go())
    assert json.loads(answer.text) == {"n": 42} and len(recorded) == 1
    # 2 to learn the prompt, then the model answered once (after a refused schema when synth asked)
    assert len(server.requests) == 2 + (2 if synth_first else 1)
    cache.close()
    assert rows(tmp_path / "c.sqlite3") == 1
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite3*"))
    assert SECRET.encode() not in stored and b"pw-SECRET" not in stored and b"user:" not in stored


def test_keep_decides_what_is_cached(tmp_path, stub_server, monkeypatch):
    server = stub_server(lambda body, request: Reply(json=chat("hello", usage={"prompt_tokens": 7,
                                                                                "completion_tokens": 3})))  # fmt: skip
    cache = ResponseCache(tmp_path / "c.sqlite3")
    request = Request(messages=({"role": "user", "content": "hi"},))
    seen: list[bool] = []

    def only_fresh(completion: Completion) -> str | None:
        seen.append(completion.cached)
        return "stale" if completion.cached else None

    async def go() -> CachedCalls:
        backend = backend_for(server, monkeypatch)
        calls = CachedCalls(backend, cache, prices={"input": 1.0, "output": 2.0})
        try:
            with pytest.raises(Unusable, match="cannot record"):  # a fresh answer refused: counted, not cached
                await calls.complete(request, keep=lambda c: "cannot record")
            assert calls.usage.calls == 1 and calls.usage.cost_usd == pytest.approx(13e-6)
            assert not calls.in_cache(request)
            assert not (await calls.complete(request)).cached and calls.in_cache(request)
            # a cached answer refused (recordable once, no longer): forgotten and asked again
            again = await calls.complete(request, keep=only_fresh)
            assert seen == [True, False] and not again.cached and len(server.requests) == 3
            assert (await calls.complete(request)).cached and len(server.requests) == 3
            return calls
        finally:
            await backend.aclose()

    calls = asyncio.run(go())
    assert (calls.usage.calls, calls.usage.cached) == (3, 1)
    cache.close()


def test_a_server_without_schemas_at_concurrency_one(tmp_path, stub_server, monkeypatch):
    """The refused schema's call leaves the concurrency gate before the schema-less one enters it."""
    server = stub_server(doubling)
    stats = StageStats()
    cache = ResponseCache(tmp_path / "c.sqlite3")

    async def go() -> Doubled | None:
        backend = backend_for(server, monkeypatch)
        try:
            return await asyncio.wait_for(synth_path(backend, cache, stats, concurrency=1), 20)
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == Doubled(n=42)
    assert len(server.requests) == 2 and stats.calls == 1
    cache.close()


def test_usage_views_keep_their_keys_and_rules():
    prices = {"input": 2.5, "output": 10.0}
    usage = Usage()
    usage.add(Completion("a", input_tokens=100, output_tokens=20, latency_s=0.5), prices)
    usage.add(Completion("b", input_tokens=50, output_tokens=10, latency_s=0.1, cached=True), prices)
    usage.retries = 2
    # metrics.json: every answer's tokens and cost (a cached re-run reads as the run that paid)
    assert usage.eval_json(priced=True) == {"input_tokens": 150, "output_tokens": 30, "requests": 1, "cached": 1,
                                            "cost_usd": round((150 * 2.5 + 30 * 10) / 1e6, 6), "retries": 2}  # fmt: skip
    assert list(usage.eval_json(priced=False)) == ["input_tokens", "output_tokens", "requests", "cached", "retries"]
    # summary.json: what was paid for
    assert usage.stage_json() == {"calls": 1, "cached": 1, "input_tokens": 100, "output_tokens": 20,
                                  "cost": round((100 * 2.5 + 20 * 10) / 1e6, 6)}  # fmt: skip
    assert usage.latency_s == 0.5
    # from predictions.jsonl records, the same rule
    records = [{"input_tokens": 100, "output_tokens": 20, "latency_s": 0.5, "cached": False},
               {"input_tokens": 50, "output_tokens": 10, "latency_s": 0.1, "cached": True}]  # fmt: skip
    assert Usage.of_records(records, prices, retries=2) == usage
    # a resumed stage adds to its counters at the new prices without repricing the old ones
    stats = StageStats.resumed({**usage.stage_json(), "accepted": 3, "rejected": {"x": 1}})
    stats.add(Completion("c", input_tokens=1_000_000), {"input": 1.0})
    assert stats.to_json() == {"calls": 2, "cached": 1, "input_tokens": 1_000_100, "output_tokens": 20,
                               "cost": round(usage.stage_json()["cost"] + 1.0, 6), "accepted": 3,
                               "rejected": {"x": 1}}  # fmt: skip
