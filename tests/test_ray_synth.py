"""`pertool synth run --executor ray` on real Ray, on loopback only: the scripted mock server and
a local Ray that pertool starts itself share a network namespace of the test's own
(pertool.testing.raycluster). The Ray run writes the local run's dataset, and a re-run of the
finished pipeline asks the model nothing (its summary and the server's log both say so)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pertool.testing.raycluster import LoopbackNamespace, namespace_problem, read_line

if not os.environ.get("CI"):  # in CI the extra must be installed: a missing one fails
    pytest.importorskip("ray")

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"
# The dataset itself and every .json file must be byte for byte the local run's. The stages'
# other record files are written in the order answers arrive, which varies even between two
# local runs with --max-concurrency above 1: the same lines, not always the same order.
BYTE_EQUAL = {"train.jsonl", "test.jsonl"}


def _namespace() -> LoopbackNamespace:
    problem = namespace_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Ray tests need a loopback-only network namespace: {problem}")
        pytest.skip(f"Ray tests need a loopback-only network namespace: {problem}")
    return LoopbackNamespace()


def _answered(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if json.loads(line).get("status") == 200)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--replicas", "0", "--replicas must be at least 1, not 0"),
    ("--replica-gpus", "nan", "--replica-gpus must be 0 or more, not nan"),
    ("--replica-cpus", "-1", "--replica-cpus must be 0 or more, not -1.0"),
])  # fmt: skip
def test_bad_executor_options_are_one_line_before_anything_is_written(tmp_path: Path, option: str, value: str,
                                                                       message: str) -> None:  # fmt: skip
    out = tmp_path / "run"
    proc = subprocess.run([*PERTOOL, "synth", "run", "--config", str(CONFIG), "--model", "openai-compatible/scripted",
                           "--base-url", "http://127.0.0.1:9/v1", "--out", str(out), "--executor", "ray", option,
                           value], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"pertool: error: {message}"]
    assert not out.exists()


@pytest.mark.slow
def test_synth_on_ray_writes_the_local_dataset_and_a_rerun_makes_no_call(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    ns = _namespace()
    try:
        server = ns.start([*PERTOOL, "mock-server", "--scripted", "--port", "0", "--log", str(log)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        assert server.stdout is not None
        url = read_line(server.stdout, 30).strip()
        assert url.startswith("http://127.0.0.1:"), url

        def synth(out: Path, cache: str, *extra: str) -> subprocess.CompletedProcess[str]:
            proc = ns.run([*PERTOOL, "synth", "run", "--config", str(CONFIG), "--model", "openai-compatible/scripted",
                           "--base-url", url, "--out", str(out), "--no-progress", *extra], 240,
                          env=ns.env({"PERTOOL_CACHE_DIR": str(tmp_path / cache)}))  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr
            return proc

        synth(tmp_path / "local", "cache-local")
        local_calls = _answered(log)
        ray = synth(tmp_path / "ray", "cache-ray", "--executor", "ray", "--replicas", "2")
        ray_calls = _answered(log) - local_calls
        again = synth(tmp_path / "ray", "cache-ray", "--executor", "ray", "--replicas", "2")
        rerun_calls = _answered(log) - local_calls - ray_calls
        leftovers = ns.leftovers()
    finally:
        ns.close()

    # every request went through the replicas, as many as the local run made
    assert local_calls > 100 and ray_calls == local_calls, (local_calls, ray_calls)
    answered = [int(n) for n in _replica_counts(ray.stderr)]
    assert len(answered) == 2 and sum(answered) == ray_calls, ray.stderr
    assert "this run: 0 calls to the model" in again.stdout, again.stdout
    assert rerun_calls == 0
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
    assert not [pid for pid in leftovers if pid != server.pid], "Ray processes outlived pertool"


def _replica_counts(stderr: str) -> list[str]:
    import re

    line = next((x for x in stderr.splitlines() if x.startswith("ray executor:")), "")
    return re.findall(r"replica \d+: (\d+) on node", line)
