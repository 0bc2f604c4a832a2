"""`pertool eval` end to end against the loopback mock server (real HTTP, real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.ptbench import load_ptbench
from pertool.mock_server import MockServer, MockSettings
from support.cli import PERTOOL, run_pertool


def bench(tmp_path: Path, n: int = 40) -> Path:
    """n distinct samples (distinct queries and values) in PTBench layout."""
    trained = [record(query=f"Order {i} packs of paper.",
                      calls=[("placeOrder", {"productName": [f"paper {i}"], "quantity": [i + 1],
                                             "address": ["1 Elm St"]})]) for i in range(n // 2)]
    untrained = [record(platform="Other", query=f"Buy {i} pens.",
                        calls=[("placeOrder", {"productName": [f"pen {i}"], "quantity": [i + 2],
                                               "address": ["1 Elm St"]})]) for i in range(n - n // 2)]
    return write_split_dir(tmp_path / "bench", trained, untrained)


def pertool(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = run_pertool(*args, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture
def server_factory():
    servers = []

    def start(root: Path, **settings) -> tuple[MockServer, str]:
        server = MockServer(load_ptbench(root), MockSettings(**settings))
        servers.append(server)
        return server, server.start()

    yield start
    for s in servers:
        s.stop()


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def eval_args(url: str, out: Path, *extra: str) -> list[str]:
    return ["eval", "--benchmark", f"ptbench:{out.parent / 'bench'}", "--model", "openai-compatible/mock",
            "--base-url", url, "--out", str(out), "--no-progress", "--json", *extra]


def test_faults_do_not_change_the_scores(tmp_path, server_factory, env):
    root = bench(tmp_path)
    _, clean_url = server_factory(root, corrupt_rate=0.3, seed=3)
    faulty, faulty_url = server_factory(root, corrupt_rate=0.3, seed=3, fault_rate=0.2, hang_s=2)
    clean = json.loads(pertool(*eval_args(clean_url, tmp_path / "clean", "--no-cache"), env=env).stdout)
    noisy = json.loads(pertool(*eval_args(faulty_url, tmp_path / "noisy", "--no-cache", "--timeout", "0.5",
                                          "--backoff-cap", "0.05", "--max-attempts", "12",
                                          "--max-concurrency", "8"), env=env).stdout)
    assert noisy["splits"] == clean["splits"]
    assert 0 < clean["splits"]["overall"]["platform"] < 1  # corruption really happened
    ids = [r["id"] for r in lines(tmp_path / "noisy" / "predictions.jsonl")]
    assert sorted(ids) == sorted({*ids}) and len(ids) == 40
    assert sum(faulty.requests.values()) > 40  # faults really happened and were retried
    assert noisy["failed"] == []


def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path, server_factory, env):
    root = bench(tmp_path, n=60)
    server, url = server_factory(root, latency_s=0.1)
    out = tmp_path / "run"
    proc = subprocess.Popen([*PERTOOL, *eval_args(url, out, "--max-concurrency", "2")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    predictions = out / "predictions.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not predictions.exists() or len(predictions.read_text().splitlines()) < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r["id"] for r in lines(predictions)}
    assert 10 <= len(before) < 60
    done = json.loads(pertool("eval", "--resume", str(out), "--json", "--no-progress", env=env).stdout)
    after = [r["id"] for r in lines(predictions)]
    assert len(after) == len(set(after)) == 60
    assert before <= set(after)
    assert all(server.answered[i] == 1 for i in before), "an answered sample was asked again"
    assert done["splits"]["overall"]["overall"] == 1.0


def test_repeated_run_is_served_from_the_cache(tmp_path, server_factory, env):
    root = bench(tmp_path, n=10)
    server, url = server_factory(root)
    pertool(*eval_args(url, tmp_path / "first"), env=env)
    asked = sum(server.requests.values())
    second = json.loads(pertool(*eval_args(url, tmp_path / "second"), env=env).stdout)
    assert sum(server.requests.values()) == asked == 10
    assert second["usage"]["cached"] == 10 and second["usage"]["requests"] == 0
    pertool(*eval_args(url, tmp_path / "third", "--no-cache"), env=env)
    assert sum(server.requests.values()) == 20


def test_api_key_never_reaches_disk(tmp_path, server_factory, env):
    root = bench(tmp_path, n=6)
    server, url = server_factory(root, log=tmp_path / "server.log")
    secret = "sk-test-SECRET-5f1c2a9e"
    env = {**env, "MY_PROVIDER_KEY": secret}
    out = tmp_path / "run"
    pertool(*eval_args(url, out, "--api-key-env", "MY_PROVIDER_KEY"), env=env)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["api_key_env"] == "MY_PROVIDER_KEY"
    files = [p for d in (out, tmp_path / "cache") for p in d.rglob("*") if p.is_file()]
    files.append(tmp_path / "server.log")
    assert len(files) >= 5
    for f in files:
        assert secret.encode() not in f.read_bytes(), f


def test_native_tool_mode_round_trips_the_platform(tmp_path, server_factory, env):
    root = bench(tmp_path, n=8)
    _, url = server_factory(root)
    result = json.loads(pertool(*eval_args(url, tmp_path / "run", "--tool-mode", "native"), env=env).stdout)
    assert result["splits"]["overall"]["overall"] == 1.0
    rec = lines(tmp_path / "run" / "predictions.jsonl")[0]
    assert rec["tool_calls"] and "platform" in json.loads(rec["tool_calls"][0]["arguments"])
    rescored = json.loads(pertool("score", "--benchmark", f"ptbench:{root}", "--predictions",
                                  str(tmp_path / "run" / "predictions.jsonl"), "--json", env=env).stdout)
    assert rescored["splits"] == result["splits"]


def test_failures_go_to_errors_and_resume_retries_them(tmp_path, server_factory, env):
    root = bench(tmp_path, n=6)
    _, url = server_factory(root, fault_rate=1.0, seed=1, hang_s=0.5)
    out = tmp_path / "run"
    proc = pertool(*eval_args(url, out, "--max-attempts", "2", "--backoff-cap", "0", "--timeout", "0.2"), env=env,
                   check=False)  # fmt: skip
    assert proc.returncode == 1 and "6 of 6 requests failed; see errors.jsonl" in proc.stderr
    assert len(json.loads((out / "metrics.json").read_text())["failed"]) == 6
    assert lines(out / "predictions.jsonl") == []
    assert len(lines(out / "errors.jsonl")) == 6
    assert "--resume" in proc.stderr
    _, good_url = server_factory(root)
    config = json.loads((out / "config.json").read_text())
    config["options"]["base_url"] = good_url  # the provider is back (on another port here)
    (out / "config.json").write_text(json.dumps(config))
    done = json.loads(pertool("eval", "--resume", str(out), "--json", "--no-progress", env=env).stdout)
    assert done["failed"] == [] and len(lines(out / "predictions.jsonl")) == 6
    assert lines(out / "errors.jsonl") == []


def test_user_mistakes_are_clear(tmp_path, env):
    root = bench(tmp_path, n=2)
    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    proc = pertool("eval", "--benchmark", f"ptbench:{root}", "--model", "openai/gpt-4o", "--out",
                   str(tmp_path / "a"), env=no_key, check=False)
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr
    proc = pertool("eval", "--model", "nope/x", "--out", str(tmp_path / "b"), env=env, check=False)
    assert proc.returncode == 2 and "unknown model spec" in proc.stderr
    proc = pertool("eval", "--model", "openai-compatible/x", "--base-url", "https://example.com/v1",
                   "--out", str(tmp_path / "c"), env=env, check=False)
    assert proc.returncode == 2 and "--api-key-env" in proc.stderr
    pertool("eval", "--model", "oracle", "--out", str(tmp_path / "d"), "--no-progress", env=env)
    proc = pertool("eval", "--model", "oracle", "--out", str(tmp_path / "d"), env=env, check=False)
    assert proc.returncode == 2 and "--resume" in proc.stderr
    proc = pertool("eval", "--resume", str(tmp_path / "d"), "--model", "oracle", env=env, check=False)
    assert proc.returncode == 2 and "drop --model" in proc.stderr


def test_ctrl_c_stops_cleanly_and_prints_the_resume_command(tmp_path, server_factory, env):
    root = bench(tmp_path, n=40)
    _, url = server_factory(root, latency_s=0.2)
    out = tmp_path / "run"
    proc = subprocess.Popen([*PERTOOL, *eval_args(url, out, "--max-concurrency", "1")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    predictions = out / "predictions.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not predictions.exists() or not predictions.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"pertool eval --resume {out}" in stderr and "Traceback" not in stderr
    kept = lines(predictions)
    assert 1 <= len(kept) < 40


def test_plugin_backend_through_entry_points(tmp_path, monkeypatch):
    import asyncio

    from pertool.models.base import Request
    from pertool.models.registry import ModelOptions, create_backend

    dist = tmp_path / "echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pertool.backends]\necho = echo_plugin:create\n")
    (tmp_path / "echo_plugin.py").write_text(
        "from pertool.models.base import Completion\n"
        "class Echo:\n"
        "    name = 'echo'\n"
        "    def __init__(self, model): self.model = model\n"
        "    def identity(self): return {'backend': 'echo', 'model': self.model}\n"
        "    async def complete(self, request): return Completion(text='echo:' + self.model)\n"
        "    async def aclose(self): pass\n"
        "def create(rest, options): return Echo(rest)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = create_backend("echo/hello", ModelOptions())
    assert asyncio.run(backend.complete(Request())).text == "echo:hello"
    # the one resolver of model specs hands a backend prefix to its factory, without samples
    from pertool.answerers import create_model, model_prefixes

    assert asyncio.run(create_model("echo/again", ModelOptions(), []).complete(Request())).text == "echo:again"
    assert "echo" in model_prefixes() and "oracle" in model_prefixes()


def test_usage_and_cost_in_metrics(tmp_path, server_factory, env):
    root = bench(tmp_path, n=4)
    _, url = server_factory(root)
    prices = tmp_path / "prices.json"
    prices.write_text('{"input": 2.5, "output": 10}')
    result = json.loads(pertool(*eval_args(url, tmp_path / "run", "--prices", str(prices)), env=env).stdout)
    usage = result["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and usage["requests"] == 4
    expected = usage["input_tokens"] / 1e6 * 2.5 + usage["output_tokens"] / 1e6 * 10
    assert usage["cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_a_run_that_fails_before_any_sample_leaves_no_directory(tmp_path, env):
    for args in (["--model", "nosuch/x"], ["--model", "oracle", "--benchmark", "ptbench:/nonexistent"]):
        out = tmp_path / "r"
        proc = pertool("eval", *args, "--out", str(out), env=env, check=False)
        assert proc.returncode == 2 and not out.exists(), proc.stderr
    proc = pertool("eval", "--model", "oracle", "--limit", "-3", "--out", str(tmp_path / "x"), env=env, check=False)
    assert proc.returncode == 2 and "--limit" in proc.stderr and not (tmp_path / "x").exists()


def test_a_run_from_before_the_seeded_limit_is_rescored_on_its_own_samples(tmp_path, env):
    """config.json files written before `--limit` drew a stratified sample have no `limit_draw`:
    they took the first N samples, and report, compare and resume must keep scoring those."""
    from pertool.kinds import gold_text, load_benchmark
    from pertool.report.rundata import load_run
    from pertool.runner.run import EvalConfig, load_config, select_samples
    from pertool.runner.rundir import RunDir

    root = bench(tmp_path)
    spec = f"ptbench:{root}"
    samples = load_benchmark(spec)
    config = EvalConfig(benchmark=spec, model="oracle", limit=6).model_dump(mode="json")
    assert config.pop("limit_draw") == "stratified"  # a new run saves how it drew
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config))
    (run / "predictions.jsonl").write_text("".join(
        json.dumps({"id": s.id, "output": gold_text(s)}) + "\n" for s in samples[:6]))
    loaded = load_config(RunDir.open(run))
    assert loaded.limit_draw == "first"
    assert [s.id for s in select_samples(loaded)] == [s.id for s in samples[:6]]
    scored = load_run(run).report
    assert scored.splits["overall"]["overall"] == 1.0 and not scored.no_answer
    # The new default really draws differently (else this test would prove nothing).
    fresh = EvalConfig(benchmark=spec, model="oracle", limit=6)
    assert [s.id for s in select_samples(fresh)] != [s.id for s in samples[:6]]
    proc = run_pertool("compare", run, "--format", "csv", env=env)
    assert proc.returncode == 0, proc.stderr
