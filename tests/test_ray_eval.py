"""`pertool eval --executor ray` on real Ray, on loopback only (a network namespace of the test's
own, pertool.testing.raycluster): a two-node cluster (`ray start --head` and a second `ray start
--address`, one CPU each) serving the mock server, the answerers and the tiny `hf/` model; a
replica's worker killed mid-run; the pool's own bounds (tests/stand_ins/ray_pool_scenarios.py);
and a local Ray that pertool starts itself, stopped by SIGTERM, then resumed. Each gives the local
executor's records, and no Ray process outlives its test. One cluster serves the module: its
start is most of the cost."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertool.cli.main import main
from pertool.testing.processes import jsonl_records, wait_for
from pertool.testing.raycluster import LoopbackNamespace, namespace_problem

if not os.environ.get("CI"):  # in CI the extra must be installed: a missing one fails
    pytest.importorskip("ray")

pytestmark = pytest.mark.slow

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]
SCENARIOS = Path(__file__).parent / "stand_ins" / "ray_pool_scenarios.py"
HEAD_PORT = "6390"  # the namespace is the test's own: no other Ray can hold it
HEAD = f"127.0.0.1:{HEAD_PORT}"
MOCK_PORT = "8765"
MOCK_URL = f"http://127.0.0.1:{MOCK_PORT}/v1"
MOCK = ["--model", "openai-compatible/mock", "--base-url", MOCK_URL, "--limit", "48"]
# One CPU per replica on nodes of one CPU each: two replicas land one per node (SPREAD alone is
# best effort), and a replacement fits only where a replica died.
ON_CLUSTER = ["--executor", "ray", "--ray-address", HEAD, "--replicas", "2", "--replica-cpus", "1"]
DEFAULT_RAY_ADDRESS = Path("/tmp/ray/ray_current_cluster")  # what `ray.init("auto")` joins here


def _namespace() -> LoopbackNamespace:
    problem = namespace_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Ray tests need a loopback-only network namespace: {problem}")
        pytest.skip(f"Ray tests need a loopback-only network namespace: {problem}")
    return LoopbackNamespace()


def _default_address() -> bytes | None:
    try:
        return DEFAULT_RAY_ADDRESS.read_bytes()
    except OSError:
        return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackNamespace]:
    """Two Ray nodes of one CPU each and the mock server (builtin's gold answers, 0.25 s per
    answer) in one loopback namespace."""
    data = tmp_path_factory.mktemp("ray-data")
    default_before = _default_address()
    ns = _namespace()
    try:
        mock = [*PERTOOL, "mock-server", "--benchmark", "builtin", "--port", MOCK_PORT, "--latency", "0.25"]
        server = ns.start(mock, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=ns.env({"PERTOOL_DATA_DIR": str(data)}))  # fmt: skip
        ns.start_ray_node("--head", "--port", HEAD_PORT, "--num-cpus", "1", "--include-dashboard=false")
        ns.start_ray_node("--address", HEAD, "--num-cpus", "1")
        assert server.stdout is not None and "serving" in server.stdout.readline()  # started meanwhile
        # Ray's files went to the namespace's own RAY_TMPDIR: the machine's default address is untouched
        assert (ns.ray_tmpdir / "ray" / "ray_current_cluster").read_text().strip() == HEAD
        assert _default_address() == default_before
        yield ns
    finally:
        forced = ns.close()
    assert not forced, f"processes outlived the tests and had to be killed: {forced}"
    assert not ns.ray_tmpdir.exists()


@pytest.fixture(scope="module")
def local_mock(cluster: LoopbackNamespace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The local executor's records against the mock server: what every Ray run must equal."""
    out = tmp_path_factory.mktemp("local-mock") / "run"
    _eval(cluster, out, *MOCK, "--max-concurrency", "16")
    records = _records(out)
    assert len(records) == 48
    return records


def _eval(ns: LoopbackNamespace, out: Path, *args: str, cache: Path | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    no_cache = [] if cache else ["--no-cache"]
    env = ns.env({"PERTOOL_CACHE_DIR": str(cache)} if cache else {})
    proc = ns.run([*PERTOOL, "eval", "--no-progress", *no_cache, "--out", str(out), *args], timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _local(out: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """A local run in this process (no network: answerers, the tiny model)."""
    assert main(["eval", "--no-progress", "--no-cache", "--out", str(out), *args]) == 0, capsys.readouterr().err
    return _records(out)


def _records(run: Path) -> dict[str, Any]:
    """id -> the whole record but its latency, asserting each id was written once and nothing
    failed."""
    records = jsonl_records(run / "predictions.jsonl")
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"a sample written twice: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert jsonl_records(run / "errors.jsonl") == []
    return {r["id"]: {k: v for k, v in r.items() if k != "latency_s"} for r in records}


def _served(stderr: str) -> tuple[int, int]:
    """(replicas, nodes) that answered, from the line the Ray executor prints."""
    found = re.search(r"ray executor: \d+ requests answered by (\d+) replicas on (\d+) nodes", stderr)
    assert found, stderr
    return int(found.group(1)), int(found.group(2))


def test_two_nodes_on_loopback_serve_the_mock_server_like_the_local_executor(
        cluster: LoopbackNamespace, local_mock: dict[str, Any], tmp_path: Path) -> None:  # fmt: skip
    ray = _eval(cluster, tmp_path / "ray", *MOCK, *ON_CLUSTER, "--max-concurrency", "16")
    assert _records(tmp_path / "ray") == local_mock
    assert _served(ray.stderr) == (2, 2)
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert (config["executor"], config["replicas"], config["ray_address"]) == ("ray", 2, HEAD)


@pytest.mark.parametrize("model", ["oracle", "baseline/history", "tiny-hf"])
def test_answerers_and_a_local_model_on_the_cluster_give_the_local_records(
        cluster: LoopbackNamespace, tmp_path: Path, model: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # one replica: spreading requests over two is the mock server tests' part
    args, ray_args = ["--model", model, "--limit", "6"], [*ON_CLUSTER[:-4], "--replicas", "1"]
    if model == "tiny-hf":  # random weights, greedy: deterministic. The compact built-in set:
        from pertool.training.tiny_model import build_tiny_model  # its prompts are 10x shorter

        args = ["--model", f"hf/{build_tiny_model(tmp_path / 'tiny')}", "--benchmark", "builtin-mini",
                "--limit", "2", "--max-tokens", "4"]  # fmt: skip
    local = _local(tmp_path / "local", *args, capsys=capsys)
    # with the cache on: answerers that read the data are never cached, on Ray as locally
    cache = tmp_path / "cache"
    ray = _eval(cluster, tmp_path / "ray", *args, *ray_args, cache=cache)
    assert local and _records(tmp_path / "ray") == local, ray.stderr
    if model != "tiny-hf":
        assert not (cache / "responses.sqlite3").exists(), "the Ray run cached answers the local run never does"


def _replica_workers(ns: LoopbackNamespace) -> list[int]:
    """The worker processes of pertool's replica actors (Ray titles them ray::Replica...)."""
    found = []
    for pid in ns.leftovers():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::Replica"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_replica_killed_mid_run_loses_and_repeats_nothing(
        cluster: LoopbackNamespace, local_mock: dict[str, Any], tmp_path: Path) -> None:  # fmt: skip
    before = set(_replica_workers(cluster))
    out = tmp_path / "ray"
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *MOCK, *ON_CLUSTER,
                            "--max-concurrency", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    victims = sorted(set(_replica_workers(cluster)) - before)
    assert len(victims) == 2, victims
    # 46 answers to go, 4 at a time, 0.25 s each: about 3 s of requests in flight on both
    os.kill(victims[0], signal.SIGKILL)
    stdout, stderr = driver.communicate(timeout=90)
    assert driver.returncode == 0, stdout + stderr
    assert _records(out) == local_mock
    assert "1 replica(s) died and were replaced" in stderr, stderr


def test_the_pool_keeps_its_counts_and_bounds_on_a_cluster(cluster: LoopbackNamespace, tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    proc = cluster.run([sys.executable, str(SCENARIOS), HEAD, str(out)], 120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(out.read_text())
    # the retry a replica made is still counted once the pool is closed (metrics.json reads it then)
    assert seen["retries"]["text"] == "fine" and seen["retries"]["retries"] == 1, seen["retries"]
    assert "503" in seen["retries"]["reason"]
    # a replica holding a request past the bound is killed and replaced; the request answered elsewhere
    stuck = seen["stuck"]
    assert stuck["text"] == "fine" and stuck["seconds"] < 30, stuck
    assert "1 replica(s) died and were replaced" in stuck["summary"] and stuck["left"] == [], stuck
    # replicas that did not start in time: said with what they ask for, and none left running
    start = seen["start_timeout"]
    assert start["error"].startswith("the Ray replicas of openai-compatible/m did not start within 0.001 s "
                                     "(2 x 0.5 CPU): free now:"), start  # fmt: skip
    assert start["left"] == [], start
    assert seen["credential"]["error"].startswith("on the Ray replica's node ("), seen["credential"]
    assert "needs an API key: set the environment variable PERTOOL_RAY_TEST_KEY" in seen["credential"]["error"]


def test_a_local_ray_that_pertool_starts_stops_on_sigterm_and_the_run_resumes(
        cluster: LoopbackNamespace, local_mock: dict[str, Any], tmp_path: Path) -> None:  # fmt: skip
    before = set(cluster.leftovers())  # the cluster's processes: pertool's own Ray comes and goes
    out = tmp_path / "ray"
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *MOCK,
                            "--executor", "ray", "--replicas", "2", "--max-concurrency", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    os.kill(driver.pid, signal.SIGTERM)
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 143, stdout + stderr
    assert f"pertool eval --resume {out}" in stderr
    # pertool shut down the Ray it started: nothing of it is left once it exits
    wait_for(lambda: set(cluster.leftovers()) <= before, within_s=15)
    config = json.loads((out / "config.json").read_text())
    assert (config["executor"], config["replicas"], config["ray_address"]) == ("ray", 2, None)
    done = len(jsonl_records(out / "predictions.jsonl"))
    assert 2 <= done < 48
    resumed = cluster.run([*PERTOOL, "eval", "--no-progress", "--resume", str(out), "--executor", "local",
                           "--max-concurrency", "16"], 60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _records(out) == local_mock
