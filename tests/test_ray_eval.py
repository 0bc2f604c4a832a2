"""`pertool eval --executor ray` on real Ray, on loopback only (a network namespace of the test's
own, pertool.testing.raycluster): a local Ray that pertool starts itself, a two-node cluster
(`ray start --head` and a second `ray start --address`), a replica's worker killed mid-run, and a
run stopped by SIGTERM then resumed. Each gives the local executor's predictions, and no Ray
process outlives its test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertool.testing.processes import jsonl_records, wait_for
from pertool.testing.raycluster import LoopbackNamespace, namespace_problem

if not os.environ.get("CI"):  # in CI the extra must be installed: a missing one fails
    pytest.importorskip("ray")

pytestmark = pytest.mark.slow

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]
HEAD_PORT = "6390"  # the namespace is the test's own: no other Ray can hold it
MOCK_PORT = "8765"
MOCK_URL = f"http://127.0.0.1:{MOCK_PORT}/v1"
MOCK_MODEL = ["--model", "openai-compatible/mock", "--base-url", MOCK_URL]


def _namespace() -> LoopbackNamespace:
    problem = namespace_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Ray tests need a loopback-only network namespace: {problem}")
        pytest.skip(f"Ray tests need a loopback-only network namespace: {problem}")
    return LoopbackNamespace()


def _close(ns: LoopbackNamespace) -> None:
    forced = ns.close()
    assert not forced, f"processes outlived the test and had to be killed: {forced}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackNamespace]:
    """Two Ray nodes of one CPU each (so two replicas land one per node) and the mock server
    (builtin's gold answers, 0.25 s per answer) in one loopback namespace."""
    data = tmp_path_factory.mktemp("ray-data")
    ns = _namespace()
    try:
        ns.start_until([*PERTOOL, "mock-server", "--benchmark", "builtin", "--port", MOCK_PORT, "--latency",
                        "0.25"], "serving", env=ns.env({"PERTOOL_DATA_DIR": str(data)}))  # fmt: skip
        ns.start_ray_node("--head", "--port", HEAD_PORT, "--num-cpus", "1", "--include-dashboard=false")
        ns.start_ray_node("--address", f"127.0.0.1:{HEAD_PORT}", "--num-cpus", "1")
        yield ns
    finally:
        _close(ns)


def _eval(ns: LoopbackNamespace, out: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = ns.run([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *args], timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _outputs(run: Path) -> dict[str, str]:
    """id -> output, asserting each id was written once and nothing failed."""
    records = jsonl_records(run / "predictions.jsonl")
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"a sample written twice: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert jsonl_records(run / "errors.jsonl") == []
    return {r["id"]: r["output"] for r in records}


def _nodes_served(stderr: str) -> int:
    found = re.search(r"ray executor: \d+ requests answered by \d+ replicas on (\d+) nodes", stderr)
    assert found, stderr
    return int(found.group(1))


def test_a_local_ray_that_pertool_starts_gives_the_local_predictions(tmp_path: Path) -> None:
    ns = _namespace()
    try:
        _eval(ns, tmp_path / "local", "--model", "oracle", "--limit", "6")
        ray = _eval(ns, tmp_path / "ray", "--model", "oracle", "--limit", "6", "--executor", "ray", "--replicas", "2")
        # pertool shut down the Ray it started: nothing of it is left once it exits
        wait_for(lambda: not ns.leftovers(), within_s=10)
    finally:
        _close(ns)
    local = _outputs(tmp_path / "local")
    assert len(local) == 6 and _outputs(tmp_path / "ray") == local
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert (config["executor"], config["replicas"], config["ray_address"]) == ("ray", 2, None)
    assert "requests answered by" in ray.stderr


def test_two_nodes_on_loopback_serve_the_mock_server_like_the_local_executor(
        cluster: LoopbackNamespace, tmp_path: Path) -> None:  # fmt: skip
    local = _eval(cluster, tmp_path / "local", *MOCK_MODEL, "--limit", "12")
    ray = _eval(cluster, tmp_path / "ray", *MOCK_MODEL, "--limit", "12", "--executor", "ray",
                "--ray-address", f"127.0.0.1:{HEAD_PORT}", "--replicas", "2")  # fmt: skip
    assert len(_outputs(tmp_path / "local")) == 12
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local"), local.stderr
    assert _nodes_served(ray.stderr) == 2


@pytest.mark.parametrize("model", ["baseline/history", "tiny-hf"])
def test_answerers_and_a_local_model_on_the_cluster_give_the_local_predictions(
        cluster: LoopbackNamespace, tmp_path: Path, model: str) -> None:  # fmt: skip
    args = ["--model", model, "--limit", "4"]
    if model == "tiny-hf":  # random weights, greedy: deterministic; a few tokens keep it short
        from pertool.training.tiny_model import build_tiny_model

        args = ["--model", f"hf/{build_tiny_model(tmp_path / 'tiny')}", "--limit", "2", "--max-tokens", "4"]
    _eval(cluster, tmp_path / "local", *args)
    _eval(cluster, tmp_path / "ray", *args, "--executor", "ray", "--ray-address", f"127.0.0.1:{HEAD_PORT}",
          "--replicas", "2")  # fmt: skip
    local = _outputs(tmp_path / "local")
    assert local and _outputs(tmp_path / "ray") == local


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


def test_a_replica_killed_mid_run_loses_and_repeats_nothing(cluster: LoopbackNamespace, tmp_path: Path) -> None:
    args = [*MOCK_MODEL, "--limit", "24", "--max-concurrency", "4"]
    _eval(cluster, tmp_path / "local", *args)
    before = set(_replica_workers(cluster))
    out = tmp_path / "ray"
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *args,
                            "--executor", "ray", "--ray-address", f"127.0.0.1:{HEAD_PORT}", "--replicas", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    victims = sorted(set(_replica_workers(cluster)) - before)
    assert len(victims) == 2, victims
    os.kill(victims[0], signal.SIGKILL)  # requests are in flight: 4 at a time, 0.25 s each
    stdout, stderr = driver.communicate(timeout=90)
    assert driver.returncode == 0, stdout + stderr
    assert _outputs(out) == _outputs(tmp_path / "local")
    assert len(_outputs(out)) == 24
    assert "died and were replaced" in stderr


def test_a_ray_run_stopped_by_sigterm_resumes_and_loses_nothing(cluster: LoopbackNamespace, tmp_path: Path) -> None:
    args = [*MOCK_MODEL, "--limit", "24", "--max-concurrency", "2"]
    _eval(cluster, tmp_path / "local", *args)
    out = tmp_path / "ray"
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *args,
                            "--executor", "ray", "--ray-address", f"127.0.0.1:{HEAD_PORT}", "--replicas", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    os.kill(driver.pid, signal.SIGTERM)
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 143, stdout + stderr
    assert f"pertool eval --resume {out}" in stderr
    done = len(jsonl_records(out / "predictions.jsonl"))
    assert 2 <= done < 24
    started = time.monotonic()
    resumed = cluster.run([*PERTOOL, "eval", "--no-progress", "--resume", str(out), "--executor", "local"], 120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert time.monotonic() - started < 60
    assert _outputs(out) == _outputs(tmp_path / "local")
