"""SynthLLM against a real loopback server: schema fallback, validation retries, caching."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading

import pytest
from pydantic import BaseModel

from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.runner.cache import ResponseCache
from pertool.synth.llm import StageStats, SynthLLM, inputs_of


class Answer(BaseModel):
    n: int


class Server:
    """Rejects response_format if told to; answers garbage to first attempts if told to."""

    def __init__(self, reject_schema: bool, garbage_first: bool):
        self.bodies: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.bodies.append(body)
                if reject_schema and "response_format" in body:
                    return self._send(400, {"error": {"message": "response_format is not supported"}})
                _, inputs = inputs_of(body["messages"])
                retry = len(body["messages"]) > 2  # the error and the earlier answer were appended
                content = "not json at all" if garbage_first and not retry else json.dumps({"n": inputs["x"] * 2})
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": 2}})

            def _send(self, status, data):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ask(server: Server, cache: ResponseCache, stats: StageStats) -> Answer | None:
    async def go() -> Answer | None:
        backend = create_backend("openai-compatible/m", ModelOptions(base_url=server.url, max_attempts=1))
        try:
            return await SynthLLM(backend, cache, Sampling()).ask("test.double", "Double x.", {"x": 21}, Answer, stats)
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(("reject_schema", "garbage_first"), [(False, False), (True, False), (False, True), (True, True)])
def test_answers_validate_retry_and_cache(tmp_path, reject_schema, garbage_first):
    server = Server(reject_schema, garbage_first)
    try:
        cache = ResponseCache(tmp_path / "c.sqlite3")
        stats = StageStats()
        assert ask(server, cache, stats) == Answer(n=42)
        sent = len(server.bodies)
        assert sent == 1 + reject_schema + garbage_first
        assert server.bodies[0]["response_format"]["json_schema"]["name"] == "test.double"
        if reject_schema:
            assert "response_format" not in server.bodies[-1]
        assert stats.calls == 1 + garbage_first and stats.input_tokens == 10 * stats.calls
        again = StageStats()
        assert ask(server, cache, again) == Answer(n=42)  # from the cache: nothing sent
        assert len(server.bodies) == sent and again.calls == 0 and again.cached >= 1
    finally:
        server.stop()


def test_gives_up_after_the_attempts_and_counts_it(tmp_path):
    server = Server(reject_schema=False, garbage_first=True)
    try:
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
    finally:
        server.stop()
