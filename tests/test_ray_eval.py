"""`pertool eval` and `pertool synth run` with `--executor ray` on real Ray, on loopback only (a
network namespace of the tests' own, pertool.testing.raycluster). One two-node cluster (`ray
start --head` and a second `ray start --address`, one CPU each) and the mock servers serve the
module, since starting them is most of the cost:

- the mock server's gold answers on both nodes, a replica's worker killed mid-run;
- `oracle`, `baseline/history` and the tiny `hf/` model, and the pool's own counts and bounds,
  in one driver process (tests/stand_ins/ray_pool_scenarios.py);
- synthesis of examples/synth-small.yaml against the scripted mock server, and its re-run;
- vllm-batch/ through Ray Data's processor, with a stand-in for vLLM's engine stage (the head
  has one logical GPU for it);
- a local Ray that pertool starts itself, stopped by SIGTERM, then the run resumed.

Each gives the local executor's records (or dataset), and no Ray process outlives the module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertool.testing.processes import jsonl_records, wait_for
from pertool.testing.raycluster import LoopbackNamespace, namespace_problem, read_line

if not os.environ.get("CI"):  # in CI the extra must be installed: a missing one fails
    pytest.importorskip("ray")

pytestmark = pytest.mark.slow

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]
SCENARIOS = Path(__file__).parent / "stand_ins" / "ray_pool_scenarios.py"
STAND_IN = Path(__file__).parent / "stand_ins" / "vllm_batch_run.py"
SYNTH_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"
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


class Cluster:
    """The namespace, its servers, and the module's work directory (the tiny model's local run
    made while the cluster started)."""

    def __init__(self, ns: LoopbackNamespace, data: Path, work: Path, tiny: subprocess.Popen[str]):
        self.ns, self.data, self.work, self.tiny = ns, data, work, tiny
        self.scripted_url, self.scripted_log = "", work / "scripted.log"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Every process's environment: one data directory (the built-in set generated once)."""
        return self.ns.env({"PERTOOL_DATA_DIR": str(self.data), **(extra or {})})

    def run(self, argv: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
        return self.ns.run(argv, timeout, env=self.env(env))

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        return self.ns.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two Ray nodes of one CPU each (the head with one logical GPU, for vllm-batch's engine
    stage), the mock server (builtin's gold answers, 0.25 s per answer) and the scripted one
    (synthesis), in one loopback namespace."""
    work = tmp_path_factory.mktemp("ray-work")
    default_before = _default_address()
    ns = _namespace()
    tiny = subprocess.Popen([sys.executable, str(SCENARIOS), "local", str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PERTOOL_DATA_DIR": str(work / "data")})  # fmt: skip
    cluster = Cluster(ns, work / "data", work, tiny)
    try:
        env = cluster.env()
        mock = ns.start([*PERTOOL, "mock-server", "--benchmark", "builtin", "--port", MOCK_PORT, "--latency", "0.25"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)  # fmt: skip
        scripted = ns.start([*PERTOOL, "mock-server", "--scripted", "--port", "0", "--log", str(cluster.scripted_log)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        ns.start_ray_node("--head", "--port", HEAD_PORT, "--num-cpus", "1", "--num-gpus", "1",
                          "--include-dashboard=false")  # fmt: skip
        ns.start_ray_node("--address", HEAD, "--num-cpus", "1")
        assert mock.stdout is not None and scripted.stdout is not None  # both started meanwhile
        assert "serving" in read_line(mock.stdout, 30)
        cluster.scripted_url = read_line(scripted.stdout, 30).strip()
        assert cluster.scripted_url.startswith("http://127.0.0.1:"), cluster.scripted_url
        # Ray's files went to the namespace's own RAY_TMPDIR: the machine's default address is untouched
        assert (ns.ray_tmpdir / "ray" / "ray_current_cluster").read_text().strip() == HEAD
        assert _default_address() == default_before
        yield cluster
    finally:
        if tiny.poll() is None:  # not in the namespace: ended here
            tiny.kill()
            tiny.wait(timeout=10)
        if tiny.stdout is not None:
            tiny.stdout.close()
        forced = ns.close()
    assert not forced, f"processes outlived the tests and had to be killed: {forced}"
    assert not ns.ray_tmpdir.exists()


@pytest.fixture(scope="module")
def local_mock(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The local executor's records against the mock server: what every Ray run must equal."""
    out = tmp_path_factory.mktemp("local-mock") / "run"
    _eval(cluster, out, *MOCK, "--max-concurrency", "16")
    records = _records(out)
    assert len(records) == 48
    return records


@pytest.fixture(scope="module")
def scenarios(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/stand_ins/ray_pool_scenarios.py's run directories and seen.json."""
    work = cluster.work
    output, _ = cluster.tiny.communicate(timeout=240)  # the tiny model and its local run
    assert cluster.tiny.returncode == 0, output[-3000:]
    proc = cluster.run([sys.executable, str(SCENARIOS), HEAD, str(work)], 240, PERTOOL_CACHE_DIR=str(work / "cache"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


def _eval(cluster: Cluster, out: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = cluster.run([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *args], timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


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


def test_two_nodes_serve_the_mock_server_like_the_local_executor_and_a_killed_replica_loses_nothing(
        cluster: Cluster, local_mock: dict[str, Any], tmp_path: Path) -> None:  # fmt: skip
    ns, out = cluster.ns, tmp_path / "ray"
    before = set(_replica_workers(ns))
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *MOCK, *ON_CLUSTER,
                            "--max-concurrency", "4"])  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    victims = sorted(set(_replica_workers(ns)) - before)
    assert len(victims) == 2, victims
    # 46 answers to go, 4 at a time, 0.25 s each: about 3 s of requests in flight on both
    os.kill(victims[0], signal.SIGKILL)
    stdout, stderr = driver.communicate(timeout=90)
    assert driver.returncode == 0, stdout + stderr
    assert _records(out) == local_mock  # nothing lost, nothing written twice, the local records
    assert "1 replica(s) died and were replaced" in stderr, stderr
    replicas, nodes = _served(stderr)
    assert replicas in (2, 3) and nodes == 2, stderr  # the replacement too, if it came in time
    config = json.loads((out / "config.json").read_text())
    assert (config["executor"], config["replicas"], config["ray_address"]) == ("ray", 2, HEAD)


@pytest.mark.parametrize("name", ["oracle", "baseline-history", "tiny-hf"])
def test_answerers_and_a_local_model_on_the_cluster_give_the_local_records(scenarios: Path, name: str) -> None:
    local = _records(scenarios / f"{name}-local")
    assert local and _records(scenarios / f"{name}-ray") == local
    config = json.loads((scenarios / f"{name}-ray" / "config.json").read_text())
    assert (config["executor"], config["ray_address"]) == ("ray", HEAD)
    # the answerers ran with the cache on: answers read from the data are never cached, on Ray as locally
    assert not (scenarios / "cache" / "responses.sqlite3").exists()


def test_the_pool_keeps_its_counts_and_bounds_on_a_cluster(scenarios: Path) -> None:
    seen = json.loads((scenarios / "seen.json").read_text())
    # the retry a replica made is still counted once the pool is closed (metrics.json reads it then)
    assert seen["retries"]["text"] == "fine" and seen["retries"]["retries"] == 1, seen["retries"]
    assert "503" in seen["retries"]["reason"]
    # a replica holding a request past the bound is killed and replaced; the request answered elsewhere
    stuck = seen["stuck"]
    assert stuck["text"] == "fine" and stuck["seconds"] < 30, stuck
    assert "1 replica(s) died and were replaced" in stuck["summary"], stuck
    # replicas that did not start in time: said with what they ask for
    assert seen["start_timeout"]["error"].startswith("the Ray replicas of openai-compatible/m did not start "
                                                     "within 0.001 s (2 x 0.5 CPU): free now:"), seen  # fmt: skip
    # every pool closed, the failed starts included: no replica left running while the driver lives
    assert seen["left"] == [], seen
    assert seen["credential"]["error"].startswith("on the Ray replica's node ("), seen["credential"]
    assert "needs an API key: set the environment variable PERTOOL_RAY_TEST_KEY" in seen["credential"]["error"]


def test_vllm_batch_runs_each_batch_through_the_ray_data_processor(cluster: Cluster, tmp_path: Path) -> None:
    """vllm-batch/ with a stand-in for vLLM's engine stage only (tests/test_vllm_batch.py tests
    the rest without Ray)."""
    from pertool.training.tiny_model import build_tiny_tokenizer

    model = build_tiny_tokenizer(tmp_path / "tiny")  # a model's tokenizer and chat template: all it reads
    out = tmp_path / "out.json"
    proc = cluster.run([sys.executable, str(STAND_IN), str(model), str(out), HEAD], 180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())

    sys.path.insert(0, str(STAND_IN.parent))
    from vllm_batch_run import stand_in_text  # the stand-in engine's rule, to check each answer

    # the real processor: vLLM's engine stage alone, one GPU per engine, --vllm-args as kwargs
    assert report["processor"]["stages"] == ["vLLMEngineStage"] and report["processor"]["num_gpus"] == 1
    assert report["processor"]["engine"]["max_model_len"] == 512
    assert report["processor"]["engine"]["enforce_eager"] is True
    assert report["batches"] == [6]  # 6 requests at once: one Dataset
    chat, second, failed, call, long, raw = report["results"]
    assert chat["text"].startswith("<|im_start|>user\nquestion one") and chat["text"].endswith("assistant\n")
    assert chat["tokens"] != second["tokens"]
    for r in (chat, second, raw):  # each its own answer from its own token ids, no mix-up
        assert r["answer"] == stand_in_text(r["tokens"], r["max_tokens"]), r
        assert r["input_tokens"] == len(r["tokens"]) and r["output_tokens"] == len(r["answer"].split())
        assert r["tool_calls"] == []
    assert failed["error"] == f"BackendError: vllm-batch/{model}: ValueError: the stand-in engine refused this row"
    assert long["error"].startswith(f"ContextOverflow: vllm-batch/{model}: ValueError: The decoder prompt")
    assert '"name": "lookup"' in call["text"]  # the tools reached the chat template
    assert call["tool_calls"] == [{"name": "lookup", "arguments": {"q": "x"}}]
    assert raw["text"] == "raw text prompt" and raw["answer"] == "seen"  # max_tokens 1


# The dataset itself and every .json file must be byte for byte the local run's. The stages'
# other record files are written in the order answers arrive, which varies even between two
# local runs with --max-concurrency above 1: the same lines, not always the same order.
BYTE_EQUAL = {"train.jsonl", "test.jsonl"}


def test_synth_on_ray_writes_the_local_dataset_and_a_rerun_makes_no_call(cluster: Cluster, tmp_path: Path) -> None:
    def answered() -> int:
        return sum(1 for line in cluster.scripted_log.read_text().splitlines() if json.loads(line).get("status") == 200)

    def synth(out: Path, cache: str, *extra: str) -> subprocess.CompletedProcess[str]:
        proc = cluster.run([*PERTOOL, "synth", "run", "--config", str(SYNTH_CONFIG), "--model",
                            "openai-compatible/scripted", "--base-url", cluster.scripted_url, "--out", str(out),
                            "--no-progress", *extra], 240, PERTOOL_CACHE_DIR=str(tmp_path / cache))  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    on_ray = ["--executor", "ray", "--ray-address", HEAD, "--replicas", "2", "--replica-cpus", "1"]
    first = answered() if cluster.scripted_log.exists() else 0
    synth(tmp_path / "local", "cache-local")
    local_calls = answered() - first
    ray = synth(tmp_path / "ray", "cache-ray", *on_ray)
    ray_calls = answered() - first - local_calls
    again = synth(tmp_path / "ray", "cache-ray", *on_ray)
    rerun_calls = answered() - first - local_calls - ray_calls

    # every request went through the replicas, as many as the local run made
    assert local_calls > 100 and ray_calls == local_calls, (local_calls, ray_calls)
    answered_by = [int(n) for n in re.findall(r"replica \d+: (\d+) on node", ray.stderr)]
    assert len(answered_by) == 2 and sum(answered_by) == ray_calls, ray.stderr
    assert "this run: 0 calls to the model" in again.stdout, again.stdout
    assert rerun_calls == 0 and "ray executor:" not in again.stderr  # no replica was even started
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert sum(stage["calls"] for stage in summary.values()) == local_calls  # totals of both runs

    local_files = sorted(p.name for p in (tmp_path / "local").iterdir() if p.is_file())
    assert {"train.jsonl", "test.jsonl", "summary.json"} <= set(local_files)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir() if p.is_file()) == local_files
    for name in local_files:
        if name.startswith("."):  # the lock and markers: pertool's own bookkeeping
            continue
        mine, theirs = (tmp_path / "ray" / name).read_bytes(), (tmp_path / "local" / name).read_bytes()
        if name.endswith(".jsonl") and name not in BYTE_EQUAL:
            assert Counter(mine.splitlines()) == Counter(theirs.splitlines()), name
        else:
            assert mine == theirs, name
    assert (tmp_path / "ray" / "train.jsonl").stat().st_size > 0


def test_a_local_ray_that_pertool_starts_stops_on_sigterm_and_the_run_resumes(
        cluster: Cluster, local_mock: dict[str, Any], tmp_path: Path) -> None:  # fmt: skip
    ns = cluster.ns
    before = set(ns.leftovers())  # the cluster's processes: pertool's own Ray comes and goes
    out = tmp_path / "ray"
    driver = cluster.start([*PERTOOL, "eval", "--no-progress", "--no-cache", "--out", str(out), *MOCK,
                            "--executor", "ray", "--max-concurrency", "2"])  # fmt: skip
    wait_for(lambda: len(jsonl_records(out / "predictions.jsonl")) >= 2, within_s=60)
    os.kill(driver.pid, signal.SIGTERM)
    stdout, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 143, stdout + stderr
    assert f"pertool eval --resume {out}" in stderr
    # pertool shut down the Ray it started: nothing of it is left once it exits
    wait_for(lambda: set(ns.leftovers()) <= before, within_s=15)
    config = json.loads((out / "config.json").read_text())
    assert (config["executor"], config["replicas"], config["ray_address"]) == ("ray", 1, None)
    done = len(jsonl_records(out / "predictions.jsonl"))
    assert 2 <= done < 48
    resumed = cluster.run([*PERTOOL, "eval", "--no-progress", "--resume", str(out), "--executor", "local",
                           "--max-concurrency", "16"], 60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _records(out) == local_mock
