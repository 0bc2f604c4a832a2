"""Unbounded servers: trickling, silent, slow-headers, huge or endless answers. Every attempt
ends within its deadline (twice --timeout by default) and reads at most --max-response-mb;
a too-large answer is a per-sample error that is not retried.

Most cases run the client in-process against the stub server (real HTTP); a few run `pertool
eval` end to end with --timeout 2.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

from hostile import Case, case, pertool
from pertool.errors import BackendError
from pertool.models.base import Completion
from pertool.models.openai_compat import MB, OpenAICompatBackend, RetryPolicy
from pertool.testing.backends import HELLO, complete_once
from pertool.testing.openai_stub import Reply, StubServer, chat

CASES: list[Case] = []


def attempt(reply: Reply, **options: float) -> tuple[Completion | BackendError, float, int, int]:
    """(result, seconds, peak traced bytes, requests the server saw) for one request."""
    with StubServer(lambda body, request: reply) as server:
        backend = OpenAICompatBackend("m", server.url, retry=RetryPolicy(max_attempts=int(options.pop("attempts", 1)),
                                                                         max_delay_s=0), **options)  # type: ignore[arg-type]  # fmt: skip

        started = time.monotonic()
        tracemalloc.start()
        try:
            result: Completion | BackendError = complete_once(backend, HELLO)
        except BackendError as exc:
            result = exc
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return result, time.monotonic() - started, peak, len(server.requests)


def bounded(name: str, reply: Reply, *, within: float, expect: str, **options: float) -> None:
    def run(tmp: Path) -> None:
        result, seconds, peak, requests = attempt(reply, **options)
        assert seconds < within, f"took {seconds:.1f} s, bound {within} s"
        assert peak < 100 * MB, f"peak memory {peak / MB:.0f} MB"
        assert isinstance(result, BackendError), f"expected an error, got {result!r}"[:200]
        assert expect in str(result), f"{expect!r} not in {result}"
        assert not result.fatal
        if expect == "max-response-mb":
            assert requests == 1, f"a too-large answer was asked {requests} times"

    CASES.append(Case(name, run))


for _timeout, _trickle in ((1.0, 0.05), (1.0, 0.3), (2.0, 0.2), (0.5, 0.1)):
    bounded(f"trickling body, 1 byte/{_trickle} s, timeout {_timeout}", Reply(json=chat("x" * 500), trickle_s=_trickle),
            within=2 * _timeout + 1.5, expect="deadline", timeout_s=_timeout)  # fmt: skip
bounded("trickling body, explicit deadline 1.5 s", Reply(json=chat("x" * 500), trickle_s=0.1),
        within=3, expect="1.5 s deadline", timeout_s=5, deadline_s=1.5)  # fmt: skip
bounded("trickling body without Content-Length", Reply(json=chat("x" * 500), trickle_s=0.1, content_length=False),
        within=3.5, expect="deadline", timeout_s=1)  # fmt: skip
bounded("trickling error body", Reply(status=500, raw=b"e" * 500, trickle_s=0.1),
        within=3.5, expect="deadline", timeout_s=1)  # fmt: skip
bounded("trickling, retried: every attempt bounded", Reply(json=chat("x" * 500), trickle_s=0.1),
        within=3 * 1.0 + 2.5, expect="gave up after 3 attempts", timeout_s=0.5, attempts=3)  # fmt: skip
bounded("silent before headers", Reply(json=chat("x"), delay_s=3), within=2, expect="timed out", timeout_s=0.5)
bounded("silent, deadline shorter than timeout", Reply(json=chat("x"), delay_s=3), within=2, expect="deadline",
        timeout_s=5, deadline_s=0.7)  # fmt: skip
for _size in (33, 64, 300):
    for _declared in (True, False):
        bounded(f"{_size} MB answer, Content-Length {'sent' if _declared else 'absent'}",
                Reply(raw=b"x" * MB, repeat=_size, content_length=_declared),
                within=20, expect="max-response-mb", attempts=3)  # fmt: skip
bounded("300 MB JSON string answer", Reply(raw=b'{"choices": [{"message": {"content": "' + b"y" * MB, repeat=300),
        within=20, expect="max-response-mb", attempts=3)  # fmt: skip
bounded("2 MB answer under a 1 MB cap", Reply(json=chat("z" * 2 * MB)), within=10, expect="max-response-mb",
        max_response_bytes=MB, attempts=3)  # fmt: skip
bounded("declared 10 GB, sends little", Reply(raw=b"{}", headers={"Content-Length": str(10 * 1024 * MB)},
                                              content_length=False),
        within=10, expect="max-response-mb", attempts=3)  # fmt: skip
bounded("300 MB error body", Reply(status=503, raw=b"e" * MB, repeat=300), within=10, expect="HTTP 503")
bounded("gzip-labelled garbage", Reply(raw=b"not gzip" * 100, headers={"Content-Encoding": "gzip"}),
        within=10, expect="DecodingError")  # fmt: skip
bounded("dropped connection", Reply(drop=True), within=10, expect="disconnected")


@case(CASES, "a 2 MB answer fits the default cap")
def _fits(tmp: Path) -> None:
    result, seconds, _, _ = attempt(Reply(json=chat("w" * 2 * MB)))
    assert isinstance(result, Completion) and len(result.text) == 2 * MB, result


@case(CASES, "a cap of 0.5 MB allows a 0.4 MB answer")
def _fits_small(tmp: Path) -> None:
    result, _, _, _ = attempt(Reply(json=chat("w" * 400_000)), max_response_bytes=MB // 2)
    assert isinstance(result, Completion), result


def eval_run(tmp: Path, reply: Reply, *extra: str, n: int = 2) -> tuple[float, list[dict], dict]:
    root = tmp / "bench/test_trained_user"
    root.mkdir(parents=True)
    record = {"user_profile": {"basic_features": {}, "user_history": {}}, "platforms": [{"name": "P", "profile": {}}],
              "tools": [], "answer": ["P", [{"f": {}}]], "query_params": [], "profile_params": []}  # fmt: skip
    (root / "data.json").write_text(json.dumps([{**record, "query": f"q{i}"} for i in range(n)]))
    out = tmp / "run"
    with StubServer(lambda body, request: reply) as server:
        started = time.monotonic()
        proc = pertool("eval", "--benchmark", f"ptbench:{tmp / 'bench'}", "--model", "openai-compatible/m",
                       "--base-url", server.url, "--out", out, "--no-progress", *extra, timeout=90)  # fmt: skip
        seconds = time.monotonic() - started
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    return seconds, errors, json.loads((out / "config.json").read_text())


@case(CASES, "eval --timeout 2 against a trickling server ends within its deadline")
def _eval_trickle(tmp: Path) -> None:
    seconds, errors, config = eval_run(tmp, Reply(json=chat("x" * 400), trickle_s=0.2), "--timeout", "2",
                                       "--max-attempts", "1")  # fmt: skip
    assert seconds < 4 + 12, f"{seconds:.1f} s"
    assert len(errors) == 2 and all("4 s deadline" in e["error"] for e in errors), errors


@case(CASES, "eval --deadline 1 overrides twice --timeout")
def _eval_deadline(tmp: Path) -> None:
    seconds, errors, config = eval_run(tmp, Reply(json=chat("x" * 400), trickle_s=0.2), "--timeout", "30",
                                       "--deadline", "1", "--max-attempts", "1")  # fmt: skip
    assert seconds < 1 + 12 and all("1 s deadline" in e["error"] for e in errors), errors
    assert config["options"]["deadline_s"] == 1


@case(CASES, "eval: a 300 MB answer is a per-sample error, not retried")
def _eval_huge(tmp: Path) -> None:
    seconds, errors, config = eval_run(tmp, Reply(raw=b"x" * MB, repeat=300, content_length=False),
                                       "--max-attempts", "4", "--backoff-cap", "0", n=1)  # fmt: skip
    assert len(errors) == 1 and "32 MB limit" in errors[0]["error"], errors
    assert "gave up" not in errors[0]["error"]


@case(CASES, "eval --max-response-mb 1 refuses a 2 MB answer")
def _eval_cap(tmp: Path) -> None:
    seconds, errors, config = eval_run(tmp, Reply(json=chat("z" * 2 * MB)), "--max-response-mb", "1", n=1)
    assert len(errors) == 1 and "1 MB limit" in errors[0]["error"], errors
    assert config["options"]["max_response_mb"] == 1
