"""signals: SIGTERM is handled like Ctrl-C: a managed `vllm serve` (the stand-in) and its workers
are stopped, also when a second signal arrives during the cleanup; finished work is kept; the
resume command is printed; exit 143 after SIGTERM, 130 after SIGINT."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from hostile import PERTOOL, Case, pertool
from pertool.testing.openai_stub import Reply, StubServer, chat
from pertool.testing.processes import descendants, gone, jsonl_records, wait_for

CASES: list[Case] = []

ROOT = Path(__file__).resolve().parents[2]
FAKE_VLLM = ROOT / "tests" / "stand_ins" / "fake_vllm.py"  # a stand-alone script, run, not imported
SYNTH_CONFIG = ROOT / "examples" / "synth-small.yaml"
N_SAMPLES = 8
CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


def _start(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*PERTOOL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert "Traceback" not in stderr, stderr[-1500:]
    return proc.returncode, stderr


def _vllm_env(work: Path, **extra: str) -> dict[str, str]:
    return {"PERTOOL_VLLM_EXECUTABLE": shlex.join([sys.executable, str(FAKE_VLLM)]),
            "FAKE_VLLM_STATE": str(work / "state.json"), "FAKE_VLLM_CHILD": "1",
            "FAKE_VLLM_ANSWER_DELAY": "0.3", **extra}  # fmt: skip


def _vllm_eval(work: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return _start("eval", "--benchmark", "example", "--model", "vllm/some/model", "--out", work / "run",
                  "--no-progress", "--max-concurrency", "1", env=env)  # fmt: skip


for _sig in (signal.SIGTERM, signal.SIGINT):

    def _vllm_serving(work: Path, sig: int = _sig) -> None:
        env = _vllm_env(work)
        proc = _vllm_eval(work, env)
        wait_for(lambda: len(jsonl_records(work / "run" / "predictions.jsonl")) >= 1)
        info = json.loads((work / "state.json").read_text())
        proc.send_signal(sig)
        code, stderr = _finish(proc)
        assert code == CODES[sig], (code, stderr[-500:])
        assert f"pertool eval --resume {work / 'run'}" in stderr
        assert gone(info["pid"]) and gone(info["child_pid"]), "vllm serve or its worker outlived pertool"
        resumed = pertool("eval", "--resume", work / "run", "--no-progress", env={**env, "FAKE_VLLM_ANSWER_DELAY": "0"})
        assert resumed.returncode == 0, resumed.stderr[-500:]
        assert len(jsonl_records(work / "run" / "predictions.jsonl")) == N_SAMPLES
        assert gone(json.loads((work / "state.json").read_text())["pid"])

    def _vllm_loading(work: Path, sig: int = _sig) -> None:
        proc = _vllm_eval(work, _vllm_env(work, FAKE_VLLM_DELAY="60"))
        below: list[int] = []

        def started() -> bool:
            below[:] = descendants(proc.pid)
            return len(below) >= 2

        wait_for(started)
        proc.send_signal(sig)
        code, stderr = _finish(proc)
        assert code == CODES[sig], (code, stderr[-500:])
        assert "pertool eval --resume" in stderr
        assert all(gone(pid) for pid in below), "a process outlived pertool"

    def _second_signal(work: Path, sig: int = _sig) -> None:
        proc = _vllm_eval(work, _vllm_env(work, FAKE_VLLM_TERM_DELAY="30"))
        wait_for(lambda: len(jsonl_records(work / "run" / "predictions.jsonl")) >= 1)
        info = json.loads((work / "state.json").read_text())
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(sig)
        started = time.monotonic()
        code, _ = _finish(proc)
        assert time.monotonic() - started < 10, "the second signal did not cut the wait short"
        assert code == 143, code
        assert gone(info["pid"]) and gone(info["child_pid"])

    _name = signal.Signals(_sig).name
    CASES += [Case(f"{_name}-vllm-while-serving", _vllm_serving), Case(f"{_name}-vllm-while-loading", _vllm_loading),
              Case(f"SIGTERM-then-{_name}-during-vllm-cleanup", _second_signal)]  # fmt: skip


def _slow() -> StubServer:
    return StubServer(lambda body, request: Reply(json=chat("no call"), delay_s=0.3))


for _sig in (signal.SIGTERM, signal.SIGINT):

    def _eval_stub(work: Path, sig: int = _sig) -> None:
        out = work / "run"
        with _slow() as server:
            proc = _start("eval", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                          server.url, "--out", out, "--no-progress", "--max-concurrency", "2")  # fmt: skip
            wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2)
            proc.send_signal(sig)
            code, stderr = _finish(proc)
            assert code == CODES[sig] and f"pertool eval --resume {out}" in stderr, (code, stderr[-500:])
            kept = jsonl_records(out / "predictions.jsonl")
            resumed = pertool("eval", "--resume", out, "--no-progress")
            assert resumed.returncode == 0, resumed.stderr[-500:]
        records = jsonl_records(out / "predictions.jsonl")
        assert records[: len(kept)] == kept and len(records) == N_SAMPLES == len({r["id"] for r in records})

    def _ablate_stub(work: Path, sig: int = _sig) -> None:
        out = work / "abl"
        with _slow() as server:
            argv = ["ablate", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url", server.url,
                    "--out", out, "--no-progress", "--conditions", "all,none"]
            proc = _start(*argv)
            wait_for(lambda: len(jsonl_records(out / "all" / "predictions.jsonl")) >= 1)
            proc.send_signal(sig)
            code, stderr = _finish(proc)
            assert code == CODES[sig] and f"(--out {out})" in stderr, (code, stderr[-500:])
            again = pertool(*argv)
            assert again.returncode == 0, again.stderr[-500:]
        for condition in ("all", "none"):
            assert len(jsonl_records(out / condition / "predictions.jsonl")) == N_SAMPLES

    def _synth_stub(work: Path, sig: int = _sig) -> None:
        out = work / "synth"
        with StubServer(lambda body, request: Reply(json=chat("[]"), delay_s=2.0)) as server:
            proc = _start("synth", "run", "--config", SYNTH_CONFIG, "--model", "openai-compatible/m", "--base-url",
                          server.url, "--out", out, "--no-progress", "--no-cache")  # fmt: skip
            wait_for(lambda: len(server.requests) >= 1)
            proc.send_signal(sig)
            code, stderr = _finish(proc)
        assert code == CODES[sig] and "resume" in stderr and str(out) in stderr, (code, stderr[-500:])
        assert (out / "pipeline.json").is_file()

    def _generate(work: Path, sig: int = _sig) -> None:
        proc = _start("generate", "--out", work / "gen", "--seed", "3")
        time.sleep(1.2)  # importing and generating
        proc.send_signal(sig)
        code, stderr = _finish(proc)
        assert code in (0, CODES[sig]), (code, stderr[-500:])  # done already, or stopped cleanly

    _name = signal.Signals(_sig).name
    CASES += [Case(f"{_name}-eval-slow-server", _eval_stub), Case(f"{_name}-ablate-slow-server", _ablate_stub),
              Case(f"{_name}-synth-slow-server", _synth_stub), Case(f"{_name}-generate", _generate)]  # fmt: skip
