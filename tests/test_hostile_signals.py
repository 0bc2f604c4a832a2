"""SIGTERM is handled like Ctrl-C: managed `vllm serve` stopped (its workers too, even when a
second signal arrives during the cleanup), finished work kept, the resume command printed, exit
143 (130 after Ctrl-C)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertool.testing.processes import alive, descendants, gone, jsonl_records, wait_for
from support.cli import PERTOOL, run_pertool
from support.openai_stub import Reply, StubServer, chat

FAKE_VLLM = Path(__file__).parent / "stand_ins" / "fake_vllm.py"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"
N_SAMPLES = 8  # the bundled example benchmark


def start(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*PERTOOL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, stderr


@pytest.fixture
def vllm_env(tmp_path: Path) -> dict[str, str]:
    return {"PERTOOL_VLLM_EXECUTABLE": shlex.join([sys.executable, str(FAKE_VLLM)]),
            "FAKE_VLLM_STATE": str(tmp_path / "state.json"), "FAKE_VLLM_CHILD": "1",
            "FAKE_VLLM_ANSWER_DELAY": "0.4", "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip


def vllm_eval(out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return start("eval", "--benchmark", "example", "--model", "vllm/some/model", "--out", out,
                 "--no-progress", "--max-concurrency", "1", env=env)  # fmt: skip


def test_sigterm_to_a_vllm_eval_stops_the_server_and_its_workers(vllm_env: dict[str, str],
                                                                  tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    proc = vllm_eval(out, vllm_env)
    state = tmp_path / "state.json"
    wait_for(lambda: (out / "predictions.jsonl").exists() and len(jsonl_records(out / "predictions.jsonl")) >= 1)
    info = json.loads(state.read_text())
    assert alive(info["pid"]) and alive(info["child_pid"])
    proc.send_signal(signal.SIGTERM)
    code, stderr = finish(proc)
    assert code == 143, stderr
    assert f"pertool eval --resume {out}" in stderr
    assert "Traceback" not in stderr
    assert gone(info["pid"]) and gone(info["child_pid"])  # the worker ignoring SIGTERM too
    kept = len(jsonl_records(out / "predictions.jsonl"))
    assert 1 <= kept < N_SAMPLES

    again = run_pertool("eval", "--resume", out, "--no-progress", env={**vllm_env, "FAKE_VLLM_ANSWER_DELAY": "0"})
    assert again.returncode == 0, again.stderr
    records = jsonl_records(out / "predictions.jsonl")
    assert len(records) == N_SAMPLES == len({r["id"] for r in records})
    assert not alive(json.loads(state.read_text())["pid"])


def test_kill_9_of_pertool_takes_the_server_with_it(vllm_env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL leaves pertool no moment to stop its server: the kernel does (parent-death signal)."""
    out = tmp_path / "run"
    proc = vllm_eval(out, {**vllm_env, "FAKE_VLLM_CHILD": "0"})
    wait_for(lambda: (out / "predictions.jsonl").exists() and len(jsonl_records(out / "predictions.jsonl")) >= 1)
    server = json.loads((tmp_path / "state.json").read_text())["pid"]
    assert alive(server)
    try:
        proc.kill()
        proc.communicate(timeout=10)  # reaped, its pipes closed
        assert gone(server)
    finally:
        if alive(server):
            os.kill(server, signal.SIGKILL)
    assert len(jsonl_records(out / "predictions.jsonl")) >= 1  # what was done stays


def test_sigterm_while_the_server_loads_leaves_no_child(vllm_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = vllm_eval(out, {**vllm_env, "FAKE_VLLM_DELAY": "60"})
    below: list[int] = []

    def server_and_worker_started() -> bool:
        below[:] = descendants(proc.pid)
        return len(below) >= 2  # the server and its worker

    wait_for(server_and_worker_started)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    code, stderr = finish(proc)
    assert code == 143, stderr
    assert f"pertool eval --resume {out}" in stderr
    assert all(gone(pid) for pid in below)


def test_a_second_sigterm_during_cleanup_leaves_no_child(vllm_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = vllm_eval(out, {**vllm_env, "FAKE_VLLM_TERM_DELAY": "30"})  # the server lingers on SIGTERM
    wait_for(lambda: (out / "predictions.jsonl").exists() and len(jsonl_records(out / "predictions.jsonl")) >= 1)
    info = json.loads((tmp_path / "state.json").read_text())
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # pertool is now waiting for the server to stop
    assert alive(info["pid"])
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code, stderr = finish(proc)
    assert time.monotonic() - started < 10  # not the 15 s grace, nor the server's 30 s
    assert code == 143, stderr
    assert gone(info["pid"]) and gone(info["child_pid"])
    assert len(jsonl_records(out / "predictions.jsonl")) >= 1


@pytest.fixture
def slow_server() -> Iterator[StubServer]:
    with StubServer(lambda body, request: Reply(json=chat("no call"), delay_s=0.4)) as server:
        yield server


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_to_an_eval_keeps_finished_work_and_resume_completes(
    slow_server: StubServer, tmp_path: Path, sig: int, code: int
) -> None:
    out = tmp_path / "run"
    env = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    proc = start("eval", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                 slow_server.url, "--out", out, "--no-progress", "--max-concurrency", "1", env=env)  # fmt: skip
    wait_for(lambda: (out / "predictions.jsonl").exists() and len(jsonl_records(out / "predictions.jsonl")) >= 2)
    proc.send_signal(sig)
    exit_code, stderr = finish(proc)
    assert exit_code == code, stderr
    assert f"pertool eval --resume {out}" in stderr and "Traceback" not in stderr
    kept = jsonl_records(out / "predictions.jsonl")
    assert 2 <= len(kept) < N_SAMPLES
    asked = len(slow_server.requests)
    resumed = run_pertool("eval", "--resume", out, "--no-progress", env=env)
    assert resumed.returncode == 0, resumed.stderr
    records = jsonl_records(out / "predictions.jsonl")
    assert records[: len(kept)] == kept  # finished work untouched
    assert len(records) == N_SAMPLES == len({r["id"] for r in records})
    assert len(slow_server.requests) - asked <= N_SAMPLES - len(kept) + 1  # only the rest asked again


def test_sigterm_to_synth_prints_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    with StubServer(lambda body, request: Reply(json=chat("[]"), delay_s=2.0)) as server:
        proc = start("synth", "run", "--config", EXAMPLE_CONFIG, "--model", "openai-compatible/m",
                     "--base-url", server.url, "--out", out, "--no-progress", "--no-cache")  # fmt: skip
        wait_for(lambda: len(server.requests) >= 1)
        proc.send_signal(signal.SIGTERM)
        code, stderr = finish(proc)
    assert code == 143, stderr
    assert "Run the same command again to resume" in stderr and str(out) in stderr
    assert "Traceback" not in stderr
    assert (out / "pipeline.json").is_file()  # the pipeline stays, to be resumed


def test_sigterm_to_ablate_prints_how_to_finish(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    proc = start("ablate", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                 slow_server.url, "--out", out, "--no-progress", "--max-concurrency", "1", "--no-cache")  # fmt: skip
    wait_for(lambda: (out / "all" / "predictions.jsonl").exists()
             and len(jsonl_records(out / "all" / "predictions.jsonl")) >= 1)  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    code, stderr = finish(proc)
    assert code == 143, stderr
    assert f"Run the same command (--out {out}) to finish" in stderr
    assert len(jsonl_records(out / "all" / "predictions.jsonl")) >= 1
