"""Every request is bounded (issue 11, part 4): a per-attempt deadline on top of the read
timeout, and a maximum response size, streamed (a huge answer is refused without holding it)."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.errors import BackendError
from pertool.models.base import Completion
from pertool.models.openai_compat import MB, OpenAICompatBackend, RetryPolicy
from pertool.models.registry import ModelOptions, create_backend, deadline_s
from pertool.testing.backends import HELLO, complete_once
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat

HUGE = 300  # MB sent by the server; never held whole by the client (nor by the stub)


def complete(backend: OpenAICompatBackend) -> Completion:
    return complete_once(backend, HELLO)


def test_the_deadline_defaults_to_twice_the_timeout() -> None:
    assert deadline_s(ModelOptions(timeout_s=2)) == 4
    assert deadline_s(ModelOptions(timeout_s=2, deadline_s=9)) == 9
    assert deadline_s(ModelOptions()) == 240


def test_a_trickling_server_ends_at_the_deadline(stub_server: Any) -> None:
    # One byte every 0.1 s never trips a 2 s read timeout: only the deadline ends it.
    server = stub_server(lambda body, request: Reply(json=chat("x" * 200), trickle_s=0.1))
    backend = OpenAICompatBackend("m", server.url, timeout_s=2, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(BackendError, match="deadline") as info:
        complete(backend)
    assert 3.9 < time.monotonic() - started < 6
    assert not info.value.fatal


def test_silence_is_still_bounded_by_the_read_timeout(stub_server: Any) -> None:
    server = stub_server(lambda body, request: Reply(json=chat("late"), delay_s=3))
    backend = OpenAICompatBackend("m", server.url, timeout_s=0.5, deadline_s=30, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        complete(backend)
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("declared", [True, False])
def test_a_huge_answer_is_refused_without_holding_it(stub_server: Any, declared: bool) -> None:
    chunk = b"x" * MB
    server = stub_server(lambda body, request: Reply(raw=chunk, repeat=HUGE, content_length=declared))
    backend = OpenAICompatBackend("m", server.url, retry=RetryPolicy(max_attempts=3, max_delay_s=0))
    tracemalloc.start()
    try:
        with pytest.raises(BackendError, match="max-response-mb") as info:
            complete(backend)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * MB, f"peak {peak / MB:.0f} MB"
    assert not info.value.retryable and len(server.requests) == 1  # refused, not asked again
    assert "32 MB" in str(info.value)


def test_a_huge_error_body_is_cut_not_read(stub_server: Any) -> None:
    server = stub_server(lambda body, request: Reply(status=500, raw=b"e" * MB, repeat=HUGE))
    backend = OpenAICompatBackend("m", server.url, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(BackendError, match="HTTP 500") as info:
        complete(backend)
    assert time.monotonic() - started < 5 and len(str(info.value)) < 400


def test_the_size_limit_is_an_option(stub_server: Any) -> None:
    server = stub_server(lambda body, request: Reply(json=chat("y" * (2 * MB))))
    small = create_backend("openai-compatible/m", ModelOptions(base_url=server.url, max_response_mb=1, max_attempts=1))
    with pytest.raises(BackendError, match="1 MB"):
        complete(small)  # type: ignore[arg-type]
    roomy = create_backend("openai-compatible/m", ModelOptions(base_url=server.url, max_response_mb=4))
    assert len(complete(roomy).text) == 2 * MB  # type: ignore[arg-type]


def bench(tmp_path: Path, n: int) -> str:
    records = [record(query=f"Order paper, case {i}.") for i in range(n)]
    return f"ptbench:{write_split_dir(tmp_path / 'bench', records, [])}"


def test_eval_with_timeout_2_against_a_trickling_server_ends_within_its_deadline(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with StubServer(lambda body, request: Reply(json=chat("x" * 400), trickle_s=0.2)) as server:
        started = time.monotonic()
        proc = run_pertool("eval", "--benchmark", bench(tmp_path, 2), "--model", "openai-compatible/m",
                           "--base-url", server.url, "--timeout", "2", "--max-attempts", "1", "--out", out,
                           "--no-progress", env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")},
                           timeout=60)  # fmt: skip
        elapsed = time.monotonic() - started
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    # Both samples run concurrently: one 4 s deadline (twice --timeout), plus interpreter start-up.
    assert elapsed < 4 + 12, elapsed
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 2 and all("4 s deadline" in e["error"] for e in errors)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["timeout_s"] == 2 and config["options"]["deadline_s"] is None


def test_eval_options_reach_config_and_the_backend(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with StubServer(lambda body, request: Reply(json=chat("z" * (MB + 10)))) as server:
        proc = run_pertool("eval", "--benchmark", bench(tmp_path, 1), "--model", "openai-compatible/m",
                           "--base-url", server.url, "--deadline", "7", "--max-response-mb", "1", "--out", out,
                           "--no-progress", env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
        assert len(server.requests) == 1  # too large: a per-sample error, not retried
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    options = json.loads((out / "config.json").read_text())["options"]
    assert (options["deadline_s"], options["max_response_mb"]) == (7, 1)
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert "exceeds the 1 MB limit" in error["error"]
