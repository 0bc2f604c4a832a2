"""PTool end to end: `pertool synth run` against `pertool mock-server --scripted` (real
processes, real HTTP), then eval with the oracle, export, an independent label check, and
resume after a crash at every stage without repeating a call."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from support.cli import PERTOOL, run_pertool

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "synth-small.yaml"
STAGES = ("tools", "features", "users", "histories", "queries", "solutions", "verify")


@pytest.fixture
def scripted_server(tmp_path):
    log = tmp_path / "server.log"
    proc = subprocess.Popen([*PERTOOL, "mock-server", "--scripted", "--port", "0", "--log", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    yield url, log
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def synth(url: str, out: Path, env: dict, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = run_pertool("synth", "run", "--config", CONFIG, "--model", "openai-compatible/scripted", "--base-url", url,
                       "--out", out, *extra, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def answered(log: Path) -> Counter:
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return Counter(e["request"] for e in lines if e.get("status") == 200)


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path, scripted_server):
    url, log = scripted_server
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    proc = synth(url, out, env)
    summary = json.loads((out / "summary.json").read_text())
    for stage in (*STAGES, "dataset"):
        assert set(summary[stage]) >= {"calls", "input_tokens", "output_tokens", "cost", "accepted", "rejected"}
    assert summary["tools"]["calls"] > 0 and summary["dataset"]["accepted"] > 0
    assert "dataset:" in proc.stdout
    n_calls = sum(answered(log).values())
    assert max(answered(log).values()) == 1

    result = subprocess.run([*PERTOOL, "eval", "--benchmark", f"dataset:{out}", "--model", "oracle",
                             "--out", str(tmp_path / "eval"), "--json", "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    overall = json.loads(result.stdout)["splits"]["overall"]
    assert all(v == 1.0 for v in overall.values() if v is not None)

    export = tmp_path / "export"
    subprocess.run([*PERTOOL, "data", "export", "--benchmark", f"dataset:{out}", "--format", "ptbench",
                    "--out", str(export)], check=True, env=env, capture_output=True, timeout=120)
    records = [r for d in export.iterdir() if d.is_dir() for r in json.loads((d / "data.json").read_text())]
    assert records
    for r in records:  # the independent label check, on the raw PTBench records
        _, calls = r["answer"]
        profile_text = json.dumps(r["user_profile"]["basic_features"], ensure_ascii=False).lower()
        for call in calls:
            for args in call.values():
                for param, accepted in args.items():
                    value = str(accepted[0]).lower()
                    if param in r["query_params"]:
                        assert value in r["query"].lower(), (param, value, r["query"])
                    if param in r["profile_params"]:
                        assert value in profile_text and value not in r["query"].lower(), (param, value)

    synth(url, out, env)  # a finished pipeline: zero calls
    assert sum(answered(log).values()) == n_calls


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_crash_at_any_stage_then_resume_repeats_no_call(tmp_path, scripted_server, stage):
    url, log = scripted_server
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    crashed = synth(url, out, {**env, "PERTOOL_SYNTH_CRASH_AFTER": f"{stage}:2"}, "--max-concurrency", "1",
                    check=False)
    assert crashed.returncode == 137, crashed.stderr
    assert not (out / f".done-{stage}").exists()
    synth(url, out, env, "--max-concurrency", "1")
    counts = answered(log)
    assert counts and max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]
    assert (out / "test.jsonl").exists()
