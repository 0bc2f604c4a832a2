"""A loopback OpenAI-compatible server that answers benchmark prompts with their gold answers.

For tests, benchmarks and dry runs (`pertool mock-server`). It finds the sample a request was
rendered from (text or native mode), answers its gold (or, for a fixed share of samples chosen
by the seed, a corrupted gold with the wrong platform), after a configurable latency; and it
injects faults at a chosen rate: 429 with Retry-After, 500, a hang (a silent delay, then a
closed connection), a malformed body, a closed connection. It counts requests and answers per
sample (GET /stats) so tests can prove that nothing was asked twice.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.kinds import kind_of
from pertool.schema import Sample

__all__ = ["DEFAULT_HANG_S", "FAULTS", "MockServer", "MockSettings"]

FAULTS = ("rate_limit", "server_error", "hang", "malformed", "disconnect")
# A hang is a few seconds of silence, well below the client's default timeout (120 s): a dry run
# with faults then exercises the retries instead of sitting silent for minutes. To exercise the
# client's own timeout, give it a shorter `--timeout` than the hang.
DEFAULT_HANG_S = 5.0
_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # a request body read whole


@dataclass(frozen=True)
class MockSettings:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    corrupt_rate: float = 0.0
    seed: int = 0
    hang_s: float = DEFAULT_HANG_S
    log: Path | None = None
    scripted: bool = False  # answer synthesis requests with the scripted LLM (pertool.synth)


class MockServer:
    """`start()` returns the base URL (…/v1); `stop()` shuts it down."""

    def __init__(self, samples: list[Sample], settings: MockSettings = MockSettings()):
        self.settings = settings
        self.key = AnswerKey(samples)
        self.requests: Counter[str] = Counter()  # every request that named a known sample
        self.answered: Counter[str] = Counter()  # successful (200, well-formed) answers
        self.unmatched = 0
        self._rng = random.Random(settings.seed)
        self._lock = threading.Lock()
        self._log = open(settings.log, "a", encoding="utf-8") if settings.log else None
        self._server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        handler = type("Handler", (_Handler,), {"mock": self})
        self._server = _Server((host, port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://{host}:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._log is not None:
            self._log.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "answered": dict(self.answered),
                    "unmatched": self.unmatched}  # fmt: skip

    # -- decisions, under the lock -------------------------------------------------------

    def fault(self) -> str | None:
        with self._lock:
            if self._rng.random() < self.settings.fault_rate:
                return self._rng.choice(FAULTS)
            return None

    def corrupted(self, sample: Sample) -> bool:
        """Fixed per sample and seed, so runs with the same settings score the same."""
        digest = hashlib.sha256(f"{self.settings.seed}:{sample.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.settings.corrupt_rate

    def arrived(self, sample: Sample | None) -> None:
        """Counted on arrival, so a request that hangs is already visible in /stats."""
        with self._lock:
            if sample is None:
                self.unmatched += 1
            else:
                self.requests[sample.id] += 1

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            sample_id = entry.get("sample_id")
            if sample_id is not None and entry.get("status") == 200 and entry.get("fault") is None:
                self.answered[sample_id] += 1
            if self._log is not None:
                self._log.write(json.dumps(entry) + "\n")
                self._log.flush()


def answer_for(sample: Sample, body: dict[str, Any], corrupt: bool) -> dict[str, Any]:
    """An OpenAI chat-completion response carrying the (possibly corrupted) gold answer."""
    if corrupt:
        others = [p.name for p in sample.platforms if p.name != sample.gold_platform]
        sample = sample.model_copy(update={"gold_platform": others[0] if others else "WrongPlatform"})
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if body.get("tools"):
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": call}
            for i, call in enumerate(kind_of(sample).gold_tool_calls(sample))
        ]
        completion_chars = sum(len(c["arguments"]) for c in kind_of(sample).gold_tool_calls(sample))
    else:
        message["content"] = kind_of(sample).gold_text(sample)
        completion_chars = len(message["content"])
    prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "mock"),
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_chars // 4 + 1, "completion_tokens": completion_chars // 4 + 1,
                  "total_tokens": (prompt_chars + completion_chars) // 4 + 2},
    }  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops bursts of concurrent connects


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mock: MockServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK (about 40 ms on Linux) on every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:  # the JSON log replaces stderr noise
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "mock", "object": "model"}]})
        elif self.path.rstrip("/").endswith("/stats"):
            self._json(200, self.mock.stats())
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            length = int(self.headers.get("content-length", "0"))
            if not 0 <= length <= _MAX_REQUEST_BYTES:  # read(-1) would wait for the client to close
                raise ValueError(f"content-length {length}")
            body = json.loads(self.rfile.read(length))
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages")
        except (ValueError, KeyError, TypeError, RecursionError):
            self._json(400, {"error": {"message": "expected a JSON chat-completions body"}})
            return
        if self.mock.settings.scripted:
            self._scripted(body, messages)
            return
        sample = self.mock.key.lookup(messages)
        self.mock.arrived(sample)
        entry: dict[str, Any] = {"time": time.time(), "sample_id": sample.id if sample else None,
                                 "fault": None}  # fmt: skip
        if sample is None:
            entry["status"] = 404
            self.mock.record(entry)
            self._json(404, {"error": {"message": "the prompt matches no sample of the benchmark"}})
            return
        fault = self.mock.fault()
        entry["fault"] = fault
        entry["status"] = self._fault(fault) if fault else self._answer(sample, body, entry)
        self.mock.record(entry)

    def _scripted(self, body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        """A synthesis request: counted by its content hash (so a repeat is visible)."""
        from pertool.synth.llm import inputs_of
        from pertool.synth.scripted import answer

        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        entry: dict[str, Any] = {"time": time.time(), "request": digest, "fault": None}
        with self.mock._lock:
            self.mock.requests[digest] += 1
        try:
            task, inputs = inputs_of(messages)
            content = json.dumps(answer(task, inputs), ensure_ascii=False)
        except (KeyError, ValueError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            entry.update(task=None, status=400)
            self.mock.record(entry)
            self._json(400, {"error": {"message": f"not a synthesis request the script knows ({exc})"}})
            return
        entry["task"] = task
        fault = self.mock.fault()
        if fault:
            entry.update(fault=fault, status=self._fault(fault))
            self.mock.record(entry)
            return
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
        self._json(200, {"id": "chatcmpl-scripted", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": prompt_chars // 4 + 1,
                                   "completion_tokens": len(content) // 4 + 1}})  # fmt: skip
        entry.update(status=200, sample_id=digest)
        self.mock.record(entry)

    def _answer(self, sample: Sample, body: dict[str, Any], entry: dict[str, Any]) -> int:
        if self.mock.settings.latency_s:
            time.sleep(self.mock.settings.latency_s)
        corrupt = self.mock.corrupted(sample)
        entry["corrupted"] = corrupt
        self._json(200, answer_for(sample, body, corrupt))
        return 200

    def _fault(self, fault: str) -> int:
        if fault == "rate_limit":
            self._json(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
            return 429
        if fault == "server_error":
            self._json(500, {"error": {"message": "injected server error"}})
            return 500
        if fault == "malformed":
            self._raw(200, b'{"choices": [ this is not json')
            return 200
        if fault == "hang":
            time.sleep(self.mock.settings.hang_s)  # bounded: MockSettings.hang_s
        self.close_connection = True  # (after a hang) disconnect without a response
        return 0

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(data).encode(), headers)

    def _raw(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
