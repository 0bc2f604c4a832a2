"""The Ray executor's options without Ray running: a missing `ray` package is one line with the
install command and leaves no run directory; out-of-range replica settings are one line; the
options land in config.json and a resume may change them. (tests/test_ray_eval.py runs Ray.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pertool.cli.main import main
from pertool.errors import MissingDependency, PertoolError

LIMIT = ["--model", "oracle", "--limit", "3", "--no-progress"]


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
