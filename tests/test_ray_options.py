"""The Ray executor's options without Ray running: a missing `ray` package is one line with the
install command and leaves no run directory; out-of-range replica settings are one line; the
options land in config.json and a resume may change them. (tests/test_ray_eval.py runs Ray.)"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from pertool.cli.main import main
from pertool.errors import MissingDependency, PertoolError

LIMIT = ["--model", "oracle", "--limit", "3", "--no-progress"]
SYNTH_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"


def test_a_missing_ray_is_one_line_with_the_install_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "run"
    assert main(["eval", *LIMIT, "--executor", "ray", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("pertool: error: --executor ray needs the optional extra `ray`: "
                   "pip install 'pertool[ray]'")  # fmt: skip
    assert not out.exists()  # nothing was run: nothing is left behind


def test_the_pool_itself_raises_missing_dependency(monkeypatch) -> None:
    from pertool.distributed import RayPool
    from pertool.models.registry import ModelOptions

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependency, match=r"pip install 'pertool\[ray\]'"):
        RayPool("oracle", ModelOptions())


@pytest.mark.parametrize(("option", "value"), [("--replicas", "0"), ("--replica-gpus", "-1"),
                                               ("--replica-cpus", "nan")])  # fmt: skip
def test_out_of_range_replica_settings_are_one_line(tmp_path: Path, capsys, option: str, value: str) -> None:
    assert main(["eval", *LIMIT, "--executor", "ray", option, value, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pertool: error: {option}: ") and "out of range" in err and err.count("\n") == 1


def test_settings_are_validated_without_the_cli() -> None:
    from pertool.distributed import RaySettings

    with pytest.raises(PertoolError, match="--replicas must be at least 1"):
        RaySettings(replicas=0)
    with pytest.raises(PertoolError, match="--replica-gpus must be 0 or more"):
        RaySettings(replica_gpus=float("nan"))


def test_local_runs_record_the_executor_and_a_resume_may_change_it(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    assert main(["eval", *LIMIT, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert {k: config[k] for k in ("executor", "ray_address", "replicas", "replica_cpus", "replica_gpus")} == {
        "executor": "local", "ray_address": None, "replicas": 1, "replica_cpus": None, "replica_gpus": None}
    # a finished run resumed with executor options: accepted (they change no result), nothing asked
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["eval", "--resume", str(out), "--no-progress", "--executor", "local", "--replicas", "3"]) == 0
    assert main(["eval", "--resume", str(out), "--no-progress", "--executor", "ray"]) == 2  # would start Ray


def test_what_replicas_hold_and_whether_they_fit_a_cluster() -> None:
    from pertool.distributed import RaySettings

    # nothing given: Ray holds nothing for an actor (it needs one free CPU to place it)
    assert RaySettings(replicas=8).held() == {"CPU": 0.0, "GPU": 0.0}
    assert RaySettings(replicas=8).shortfall({"CPU": 2.0}) is None
    assert RaySettings().shortfall({}) == "Ray needs 1 free CPU to place each replica; the cluster has none"
    # every replica counts, not one
    assert RaySettings(replicas=4, replica_cpus=1).shortfall({"CPU": 2.0}) == (
        "--replicas 4 x --replica-cpus 1 = 4 CPUs; the cluster has 2")  # fmt: skip
    assert RaySettings(replicas=2, replica_cpus=1).shortfall({"CPU": 2.0}) is None
    # GPUs alone: Ray then holds 1 CPU per actor too
    gpus = RaySettings(replicas=3, replica_gpus=0.5)
    assert gpus.held() == {"CPU": 1.0, "GPU": 0.5}
    assert gpus.shortfall({"CPU": 2.0, "GPU": 2.0}) == (
        "--replicas 3 x 1 CPU each (Ray's default with --replica-gpus) = 3 CPUs; the cluster has 2")  # fmt: skip
    assert RaySettings(replicas=3, replica_gpus=0.5, replica_cpus=0).shortfall({"CPU": 2.0, "GPU": 2.0}) is None
    assert RaySettings(replicas=2, replica_gpus=1).shortfall({"CPU": 8.0, "GPU": 1.0}) == (
        "--replicas 2 x --replica-gpus 1 = 2 GPUs; the cluster has 1")  # fmt: skip


class _RayThatCannotStart(types.ModuleType):
    """Ray's API as far as joining goes, where no Ray can start: counts the tries (a real failed
    start may wait minutes, which is the point)."""

    def __init__(self) -> None:
        super().__init__("ray")
        self.tries = 0

    def is_initialized(self) -> bool:
        return False

    def init(self, **_: object) -> None:
        self.tries += 1
        raise ConnectionError("no Ray here")


def test_synthesis_tries_to_start_the_pool_once_and_says_why_it_failed(tmp_path: Path, monkeypatch,
                                                                        capsys) -> None:  # fmt: skip
    import asyncio

    from pertool.distributed import RaySettings
    from pertool.models.base import Request
    from pertool.models.registry import ModelOptions
    from pertool.synth.api import _backend

    ray = _RayThatCannotStart()
    monkeypatch.setitem(sys.modules, "ray", ray)
    out = tmp_path / "pipeline"
    code = main(["synth", "run", "--config", str(SYNTH_CONFIG), "--model", "openai-compatible/scripted",
                 "--base-url", "http://127.0.0.1:9/v1", "--out", str(out), "--no-progress", "--executor", "ray"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip() == "pertool: error: could not start or join a local Ray instance: no Ray here"
    # a stage that goes on to other items after one failed (each_in_order) asks again and again:
    # the first failure is the answer to each, without another start
    backend = _backend("openai-compatible/m", ModelOptions(base_url="http://127.0.0.1:9/v1"), RaySettings())
    for _ in range(3):
        with pytest.raises(PertoolError, match="no Ray here"):
            backend.identity()
    with pytest.raises(PertoolError, match="no Ray here"):
        asyncio.run(backend.complete(Request(prompt="p")))
    assert ray.tries == 2  # the CLI's run, and this backend's first use
