"""concurrency: one writer per run directory (eval, resume, ablate, synth), refused with one
line and writing nothing; a killed writer's lock dies with it; odd lock files are one line; the
built-in benchmark cache survives several processes using it first at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hostile import PERTOOL, Case, assert_one_line_error, case, pertool
from pertool.testing.openai_stub import Reply, StubServer, chat
from pertool.testing.processes import jsonl_records, wait_for

CASES: list[Case] = []

ROOT = Path(__file__).resolve().parents[2]
SYNTH_CONFIG = ROOT / "examples" / "synth-small.yaml"
N_SAMPLES = 8  # the bundled example benchmark


def _slow(delay_s: float = 0.3) -> StubServer:
    return StubServer(lambda body, request: Reply(json=chat("no call"), delay_s=delay_s))


def _start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*PERTOOL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _eval_args(server: StubServer, out: Path) -> list[str | Path]:
    return ["eval", "--benchmark", "example", "--model", "openai-compatible/slow", "--base-url", server.url,
            "--out", out, "--no-progress", "--no-cache", "--max-concurrency", "1"]  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> int:
    try:
        proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode


def _complete(out: Path) -> None:
    records = jsonl_records(out / "predictions.jsonl")
    ids = [r["id"] for r in records]
    assert len(ids) == N_SAMPLES == len(set(ids)), f"{len(ids)} lines, {len(set(ids))} ids"


def _interrupted(server: StubServer, out: Path) -> None:
    first = _start(*_eval_args(server, out))
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2)
    first.send_signal(signal.SIGKILL)
    first.communicate()


@case(CASES)
def two_evals_on_one_out(work: Path) -> None:
    out = work / "run"
    with _slow() as server:
        first = _start(*_eval_args(server, out))
        wait_for(lambda: len(server.requests) >= 1)
        second = pertool(*_eval_args(server, out))
        assert_one_line_error(second, mentions="already holds a run")
        assert _finish(first) == 0
        assert len(server.requests) == N_SAMPLES
    _complete(out)


@case(CASES)
def two_evals_into_one_empty_dir_at_once(work: Path) -> None:
    out = work / "empty"
    out.mkdir()
    with _slow(0.1) as server:
        procs = [_start(*_eval_args(server, out)) for _ in range(3)]
        codes = sorted(_finish(p) for p in procs)
    assert codes == [0, 2, 2], codes
    _complete(out)


@case(CASES)
def resume_while_the_eval_runs(work: Path) -> None:
    out = work / "run"
    with _slow() as server:
        first = _start(*_eval_args(server, out))
        wait_for(lambda: len(server.requests) >= 1)
        second = pertool("eval", "--resume", out, "--no-progress")
        assert_one_line_error(second, mentions="another pertool process")
        assert _finish(first) == 0
    _complete(out)


@case(CASES)
def two_resumes_of_one_run(work: Path) -> None:
    out = work / "run"
    with _slow() as server:
        _interrupted(server, out)
        resume = _start("eval", "--resume", out, "--no-progress")
        asked = len(server.requests)
        wait_for(lambda: len(server.requests) > asked)
        second = pertool("eval", "--resume", out, "--no-progress")
        assert_one_line_error(second, mentions="another pertool process")
        assert f"pid {resume.pid}" in second.stderr
        assert _finish(resume) == 0
    _complete(out)


@case(CASES)
def three_resumes_at_once(work: Path) -> None:
    out = work / "run"
    with _slow(0.1) as server:
        _interrupted(server, out)
        procs = [_start("eval", "--resume", out, "--no-progress") for _ in range(3)]
        codes = sorted(_finish(p) for p in procs)
    assert codes == [0, 2, 2], codes
    _complete(out)


@case(CASES)
def kill_9_then_resume_is_not_blocked(work: Path) -> None:
    out = work / "run"
    with _slow(0.05) as server:
        _interrupted(server, out)
        assert (out / ".lock").exists()  # the file stays; the lock died with its holder
        proc = pertool("eval", "--resume", out, "--no-progress")
        assert proc.returncode == 0, proc.stderr
    _complete(out)


for _what in ("directory", "fifo", "dangling-symlink", "garbage"):

    def _odd_lock(work: Path, what: str = _what) -> None:
        out = work / "run"
        assert pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", out,
                       "--no-progress", "--limit", "2").returncode == 0  # fmt: skip
        (out / ".lock").unlink()
        if what == "directory":
            (out / ".lock").mkdir()
        elif what == "fifo":
            os.mkfifo(out / ".lock")
        elif what == "dangling-symlink":
            (out / ".lock").symlink_to(work / "elsewhere")
        else:
            (out / ".lock").write_bytes(b"\xff\xfe not a pid \x00")
        proc = pertool("eval", "--resume", out, "--no-progress", timeout=30)
        if what == "garbage":  # just a file with odd bytes: the lock works
            assert proc.returncode == 0, proc.stderr
        else:
            assert_one_line_error(proc, mentions="cannot lock")
            assert not (work / "elsewhere").exists()

    CASES.append(Case(f"lock-file-is-{_what}", _odd_lock))


@case(CASES)
def two_ablates_on_one_out(work: Path) -> None:
    out = work / "abl"
    with _slow(0.8) as server:
        argv = ["ablate", "--benchmark", "example", "--model", "openai-compatible/slow", "--base-url", server.url,
                "--out", out, "--no-progress", "--no-cache", "--max-concurrency", "1", "--conditions", "all"]
        first = _start(*argv)
        wait_for(lambda: len(server.requests) >= 1)
        assert_one_line_error(pertool(*argv), mentions="another `pertool ablate`")
        assert_one_line_error(pertool("eval", "--resume", out / "all", "--no-progress"),
                              mentions="another pertool process")  # fmt: skip
        assert _finish(first) == 0
        assert len(server.requests) == N_SAMPLES
    _complete(out / "all")


@case(CASES)
def two_synths_on_one_out(work: Path) -> None:
    out = work / "synth"
    with StubServer(lambda body, request: Reply(json=chat("[]"), delay_s=1.0)) as server:
        argv = ["synth", "run", "--config", SYNTH_CONFIG, "--model", "openai-compatible/m", "--base-url",
                server.url, "--out", out, "--no-progress", "--no-cache"]  # fmt: skip
        first = _start(*argv)
        wait_for(lambda: len(server.requests) >= 1)
        assert_one_line_error(pertool(*argv), mentions="another `pertool synth`")
        first.send_signal(signal.SIGTERM)
        _finish(first)


# --- the built-in benchmark cache ---------------------------------------------------------------

_LOAD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pertool.benchmarks.builtin import load_builtin
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.005)
    print(len(load_builtin(sys.argv[3], Path(sys.argv[1]))))
""")


for _n in (2, 4):

    def _first_use(work: Path, n: int = _n) -> None:
        cache = work / "cache"
        start = str(time.time() + 1.0)
        procs = [subprocess.Popen([sys.executable, "-c", _LOAD, str(cache), start, ("test", "train")[i % 2]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(n)]  # fmt: skip
        outs = [p.communicate(timeout=240) for p in procs]
        for proc, (stdout, stderr) in zip(procs, outs):
            assert proc.returncode == 0, stderr[-500:]
            assert stdout.strip() in ("1083", "7096"), stdout
        names = [p.name for p in cache.iterdir() if p.is_dir()]
        assert len(names) == 1 and not names[0].startswith("."), names  # published once, no staging left

    CASES.append(Case(f"builtin-cache-first-use-by-{_n}-processes", _first_use))


@case(CASES)
def builtin_cache_first_use_by_two_evals(work: Path) -> None:
    procs = [_start("eval", "--limit", "3", "--out", work / f"r{i}", "--no-progress") for i in range(2)]
    assert [_finish(p, 240) for p in procs] == [0, 0]


@case(CASES)
def builtin_cache_torn_by_an_older_version(work: Path) -> None:
    from pertool.builtin.generate import GENERATOR_VERSION

    torn = Path(os.environ["PERTOOL_CACHE_DIR"]) / f"builtin-v{GENERATOR_VERSION}-seed0"
    torn.mkdir(parents=True)
    (torn / "test.jsonl").write_text('{"id": "half')
    proc = pertool("eval", "--limit", "3", "--out", work / "r", "--no-progress")
    assert proc.returncode == 0, proc.stderr
