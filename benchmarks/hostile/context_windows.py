"""Class `context_windows`: a server's refusal of a prompt too long for the model's window.

Every common phrasing (llama.cpp, llama-cpp-python, vLLM, OpenAI, TGI, SGLang, Mistral,
Anthropic, Gemini) is a `ContextOverflow`, asked once; any other 4xx or a 5xx saying the same is
not one; hostile bodies (60,000 digits, deep nesting, a 1 MB body cut at the read limit, bytes
that are not UTF-8, a code that is a list) are judged within a second, without a traceback.
Real HTTP against the stub server; the phrasings are those of tests/test_context_overflow.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hostile import Case, case

CASES: list[Case] = []

_LLAMA = ("This model's maximum context length is 8192 tokens. However, you requested 14225 tokens "
          "(14225 in the messages, 512 in the completion).")  # fmt: skip
OVERFLOWS: dict[str, tuple[int, Any]] = {
    "llama-cpp-python": (400, {"error": {"message": _LLAMA, "code": "context_length_exceeded"}}),
    "vllm": (400, {"object": "error", "message": _LLAMA, "code": 400}),
    "openai-code": (400, {"error": {"message": "Input too long.", "code": "context_length_exceeded"}}),
    "llama-server": (400, {"error": {"message": "the request exceeds the available context size, try increasing "
                                     "it", "type": "exceed_context_size_error", "n_ctx": 8192}}),
    "tgi-422": (422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                               "Given: 4000 `inputs` tokens and 512 `max_new_tokens`"}),
    "sglang": (400, {"message": "The input (9000 tokens) is longer than the model's context length (8192 "
                                "tokens)."}),
    "mistral": (400, {"message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model with "
                                 "32768 maximum context length"}),
    "anthropic": (400, {"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum"}}),
    "gemini": (400, {"error": {"message": "The input token count (1200000) exceeds the maximum number of "
                                          "tokens allowed (1048576)."}}),
    "ollama": (400, {"error": "the input length exceeds the context length"}),
    "text-body": (400, "the request exceeds the available context size"),
    "digits-60k": (400, "This model's maximum context length is " + "9" * 60_000 + " tokens."),
    "cut-at-64k": (400, "This model's maximum context length is 8192 tokens. " + "x" * 1_000_000),
    "not-utf8": (400, b"\xff\xfe maximum context length is 8192 tokens \xc3"),
}  # fmt: skip
OTHERS: dict[str, tuple[int, Any]] = {
    "roles": (400, {"error": {"message": "roles must alternate", "code": "invalid_request"}}),
    "bare-400": (400, {"error": "x"}),
    "context-word": (400, {"error": {"message": "Invalid 'context' value"}}),
    "413-proxy": (413, "<h1>Request Entity Too Large</h1>"),
    "500-same-words": (500, {"error": {"message": _LLAMA}}),
    "404-same-words": (404, {"error": {"message": _LLAMA}}),
    "deep-nesting": (400, "[" * 50_000),
    "code-a-list": (400, {"error": {"message": "bad", "code": ["context_length_exceeded"]}}),
    "digits-only": (400, "9" * 65_536),
    "digits-before-words": (400, "1 " * 30_000 + "maximum context"),
}  # fmt: skip


def _ask(status: int, body: Any) -> tuple[BaseException | None, int, float]:
    from pertool.models.base import Request
    from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
    from pertool.testing.openai_stub import Reply, StubServer

    if isinstance(body, str):
        body = body.encode()
    reply = Reply(status=status, raw=body) if isinstance(body, bytes) else Reply(status=status, json=body)

    async def go(url: str) -> BaseException | None:
        backend = OpenAICompatBackend("m", url, retry=RetryPolicy(max_attempts=2, base_delay_s=0, max_delay_s=0))
        try:
            await backend.complete(Request(messages=({"role": "user", "content": "hi"},)))
        except Exception as exc:  # noqa: BLE001 - what it raised is the result
            return exc
        finally:
            await backend.aclose()
        return None

    with StubServer(lambda b, r: reply) as server:
        started = time.perf_counter()
        raised = asyncio.run(go(server.url))
        return raised, len(server.requests), time.perf_counter() - started


def _overflow_case(name: str, status: int, body: Any) -> None:
    @case(CASES, f"overflow-{name}")
    def run(work: Path) -> None:
        from pertool.errors import ContextOverflow

        raised, asked, seconds = _ask(status, body)
        assert isinstance(raised, ContextOverflow), f"not a context overflow: {raised!r}"
        assert asked == 1, f"asked {asked} times"
        assert seconds < 1.0, f"took {seconds:.1f} s"


def _other_case(name: str, status: int, body: Any) -> None:
    @case(CASES, f"not-overflow-{name}")
    def run(work: Path) -> None:
        from pertool.errors import BackendError, ContextOverflow

        raised, _, seconds = _ask(status, body)
        assert isinstance(raised, BackendError) and not isinstance(raised, ContextOverflow), repr(raised)
        assert seconds < 1.5, f"took {seconds:.1f} s"


for _name, (_status, _body) in OVERFLOWS.items():
    _overflow_case(_name, _status, _body)
for _name, (_status, _body) in OTHERS.items():
    _other_case(_name, _status, _body)
