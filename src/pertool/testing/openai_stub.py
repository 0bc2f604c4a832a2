"""One configurable OpenAI-compatible stub server on loopback, for every test that needs a server.

A test gives a `respond(body, request)` function returning a `Reply` (status, JSON or raw bytes,
headers, a delay, a trickle, a dropped connection); the server records every request. The
default reply echoes a fixed assistant message. Real HTTP, real sockets: nothing is mocked.

    with StubServer(lambda body, req: Reply(json=chat("hi"))) as server:
        backend = OpenAICompatBackend("m", server.url)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "StubRequest", "StubServer", "chat", "tool_calls"]


@dataclass
class Reply:
    status: int = 200
    json: Any = None  # serialized as the body unless `raw` is given
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before the status line
    trickle_s: float = 0.0  # send the body one byte every trickle_s seconds
    drop: bool = False  # close the connection without an answer
    content_length: bool = True  # False: no Content-Length header (body ends at close)
    repeat: int = 1  # send the body this many times: a huge answer without holding it in memory


@dataclass
class StubRequest:
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body, or the raw bytes when it is not JSON


def chat(content: Any = "ok", *, usage: Any = None, message: Any = None, **extra: Any) -> dict[str, Any]:
    """A chat-completions body. `message` replaces the whole message (any shape, for hostile tests)."""
    msg = message if message is not None else {"role": "assistant", "content": content}
    body: dict[str, Any] = {"id": "chatcmpl-stub", "object": "chat.completion",
                            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}  # fmt: skip
    body["usage"] = usage if usage is not None else {"prompt_tokens": 10, "completion_tokens": 5}
    body.update(extra)
    return body


def tool_calls(*calls: tuple[str, Any], content: Any = None) -> dict[str, Any]:
    """A chat body whose message holds tool calls: `(name, arguments)` with arguments a dict
    (sent as a JSON string, as OpenAI does) or a string (sent as is)."""
    wire = [{"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(calls)]  # fmt: skip
    return chat(message={"role": "assistant", "content": content, "tool_calls": wire})


Respond = Callable[[Any, StubRequest], Reply]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up (a deadline, a size cap) is not the stub's error
        super().handle_error(request, client_address)


class StubServer:
    def __init__(self, respond: Respond | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.respond: Respond = respond or (lambda body, request: Reply(json=chat("ok")))
        self.requests: list[StubRequest] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a deadline, a size cap): fine

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._handle(None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                try:
                    body: Any = json.loads(data)
                except ValueError:
                    body = data
                self._handle(body)

            def _handle(self, body: Any) -> None:
                request = StubRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.requests.append(request)
                try:
                    reply = outer.respond(body, request)
                except Exception as exc:  # a broken test function: say so to the client, not in a thread
                    reply = Reply(500, json={"error": {"message": f"stub respond() raised {exc!r}"}})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.raw if reply.raw is not None else json.dumps(reply.json).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    if reply.content_length:
                        self.send_header("Content-Length", str(len(payload) * reply.repeat))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if reply.trickle_s:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle_s)
                    else:
                        for _ in range(reply.repeat):
                            self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a deadline): fine

        self.httpd = _Server((host, port), Handler)  # port 0: any free port
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
