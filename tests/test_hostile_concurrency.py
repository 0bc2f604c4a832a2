"""One writer per run: a second eval on the same --out, a second resume of one run, or a resume
of a run still being written is refused and writes nothing; the built-in benchmark cache
survives two processes using it first at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertool.errors import PertoolError
from pertool.runner.rundir import RunDir
from pertool.testing.processes import jsonl_records, wait_for
from support.cli import PERTOOL, run_pertool
from support.openai_stub import Reply, StubServer, chat

N_SAMPLES = 8  # the bundled example benchmark


@pytest.fixture
def slow_server() -> Iterator[StubServer]:
    with StubServer(lambda body, request: Reply(json=chat("no call"), delay_s=0.4)) as server:
        yield server


def start_eval(server: StubServer, *args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*PERTOOL, "eval", *map(str, args), "--no-progress", "--max-concurrency", "1"]
                            + (["--base-url", server.url] if "--resume" not in args else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def eval_args(out: Path) -> list[str | Path]:
    return ["--benchmark", "example", "--model", "openai-compatible/slow", "--out", out, "--no-cache"]


def assert_one_error(proc: subprocess.CompletedProcess, mentions: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(errors) == 1 and mentions in errors[0], proc.stderr


def test_two_evals_on_one_out_the_second_is_refused(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = start_eval(slow_server, *eval_args(out))
    try:
        wait_for(lambda: len(slow_server.requests) >= 1)
        config_before = (out / "config.json").read_bytes()
        second = run_pertool("eval", *eval_args(out), "--base-url", slow_server.url, "--no-progress")
        assert_one_error(second, "already holds a run")
        assert (out / "config.json").read_bytes() == config_before
        assert first.wait(60) == 0, first.stderr.read() if first.stderr else ""
    finally:
        first.kill()
        first.communicate()
    records = jsonl_records(out / "predictions.jsonl")
    assert sorted(r["id"] for r in records) == sorted({r["id"] for r in records})
    assert len(records) == N_SAMPLES
    assert len(slow_server.requests) == N_SAMPLES  # the refused eval asked nothing


def interrupted_run(server: StubServer, out: Path) -> None:
    """A run with some samples done, its writer killed with -9 (the lock dies with it)."""
    first = start_eval(server, *eval_args(out))
    wait_for(lambda: (out / "predictions.jsonl").exists() and len(jsonl_records(out / "predictions.jsonl")) >= 2)
    first.send_signal(signal.SIGKILL)
    first.communicate()


def test_two_resumes_of_one_run_the_second_is_refused(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    interrupted_run(slow_server, out)
    done_before = len(jsonl_records(out / "predictions.jsonl"))
    resume = start_eval(slow_server, "--resume", out)
    try:
        asked = len(slow_server.requests)
        wait_for(lambda: len(slow_server.requests) > asked)  # the first resume is writing
        second = run_pertool("eval", "--resume", out, "--no-progress")
        assert_one_error(second, "being written by another pertool process")
        assert f"pid {resume.pid}" in second.stderr
        assert resume.wait(60) == 0
    finally:
        resume.kill()
        resume.communicate()
    records = jsonl_records(out / "predictions.jsonl")
    assert len(records) == N_SAMPLES == len({r["id"] for r in records})
    assert done_before >= 2


def test_a_resume_while_the_eval_still_runs_is_refused(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = start_eval(slow_server, *eval_args(out))
    try:
        wait_for(lambda: len(slow_server.requests) >= 1)
        second = run_pertool("eval", "--resume", out, "--no-progress")
        assert_one_error(second, "being written by another pertool process")
        assert first.wait(60) == 0
    finally:
        first.kill()
        first.communicate()
    assert len(jsonl_records(out / "predictions.jsonl")) == N_SAMPLES


def test_kill_9_releases_the_lock(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    interrupted_run(slow_server, out)
    run = RunDir.open(out)
    run.lock()  # no waiting, no stale lock file to delete by hand
    run.unlock()


def test_the_lock_is_per_process_handle(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", {"benchmark": "example", "model": "oracle"}, lock=True)
    other = RunDir.open(tmp_path / "r")
    with pytest.raises(PertoolError, match="one writer per run"):
        other.lock()
    run.unlock()
    other.lock()
    other.unlock()


def test_two_ablates_on_one_out_the_second_is_refused(slow_server: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    argv = [*PERTOOL, "ablate", "--benchmark", "example", "--model", "openai-compatible/slow", "--base-url",
            slow_server.url, "--out", str(out), "--no-progress", "--max-concurrency", "1", "--no-cache",
            "--conditions", "all,none"]  # fmt: skip
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(slow_server.requests) >= 1)
        second = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert_one_error(second, "another `pertool ablate`")
        assert first.wait(60) == 0
    finally:
        first.kill()
        first.communicate()
    assert len(slow_server.requests) == 2 * N_SAMPLES
    for condition in ("all", "none"):
        assert len(jsonl_records(out / condition / "predictions.jsonl")) == N_SAMPLES


# --- the built-in benchmark cache ---------------------------------------------------------------

LOAD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pertool.benchmarks.builtin import load_builtin
    start = float(sys.argv[2])
    while time.time() < start:  # both processes begin together
        time.sleep(0.005)
    print(len(load_builtin("test", Path(sys.argv[1]))), len(load_builtin("train", Path(sys.argv[1]))))
""")


def test_concurrent_first_use_of_the_builtin_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    start = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", LOAD, str(cache), start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (stdout, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr
        assert stdout.split() == ["1083", "7096"]
    from pertool.builtin.generate import GENERATOR_VERSION

    published = [p.name for p in cache.iterdir() if not p.name.startswith(".")]
    assert published == [f"builtin-v{GENERATOR_VERSION}-seed0"]
    assert not [p for p in cache.iterdir() if p.is_dir() and p.name.startswith(".")]  # no staging left


def test_a_torn_cache_without_manifest_is_rebuilt(tmp_path: Path) -> None:
    from pertool.benchmarks.builtin import load_builtin
    from pertool.builtin.generate import GENERATOR_VERSION

    torn = tmp_path / f"builtin-v{GENERATOR_VERSION}-seed0"
    torn.mkdir(parents=True)
    (torn / "test.jsonl").write_text('{"id": "half')
    assert len(load_builtin("test", tmp_path)) == 1083
    assert (torn / "manifest.json").is_file()


def test_cache_in_an_unwritable_place_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"PERTOOL_CACHE_DIR": str(blocker / "cache")}
    proc = run_pertool("eval", "--limit", "2", "--out", tmp_path / "run", "--no-progress", env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists()
    assert os.path.isfile(blocker)
