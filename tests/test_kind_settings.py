"""Settings a benchmark kind cannot use are refused before anything runs (nothing asked of a
model, no run directory left), and a wrong --data-dir is an error, never another copy."""

from __future__ import annotations

import json

import pytest

from support.cli import run_pertool
from support.petoolbench_fixture import write_json


@pytest.fixture
def pet(tmp_path):
    return write_json(tmp_path / "pet").parent


@pytest.mark.parametrize("args, message", [
    (("--benchmark", "petoolbench", "--compat", "ptbench-official"),
     "--compat ptbench-official does not apply to petoolbench samples; its modes: petoolbench-public"),
    (("--benchmark", "example", "--compat", "petoolbench-public"),
     "--compat petoolbench-public does not apply to ptbench samples; its modes: ptbench-official"),
    (("--benchmark", "petoolbench", "--chat-format", "qwen"), "--chat-format does not apply to petoolbench"),
    (("--benchmark", "petoolbench", "--tool-mode", "native"), "--tool-mode native does not apply"),
    (("--benchmark", "petoolbench", "--profile-view", "no-basic"), "--profile-view no-basic does not apply"),
])  # fmt: skip
def test_eval_refuses_before_asking_the_model(pet, tmp_path, args, message):
    proc = run_pertool("eval", *args, "--data-dir", pet, "--model", "oracle", "--no-progress",
                       "--out", tmp_path / "run", env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing was run, nothing left behind


def test_a_wrong_data_dir_is_an_error_not_another_copy(pet, tmp_path):
    env = {"PERTOOL_DATA_DIR": str(pet), "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    ok = run_pertool("prompt", "--benchmark", "petoolbench", "--id", "preferred:0", env=env)
    assert ok.returncode == 0, ok.stderr  # found through $PERTOOL_DATA_DIR when no --data-dir is given
    proc = run_pertool("eval", "--benchmark", "petoolbench", "--data-dir", tmp_path / "nowhere", "--model",
                       "oracle", "--out", tmp_path / "run", env=env)  # fmt: skip
    assert proc.returncode == 2 and "--data-dir" in proc.stderr and str(tmp_path / "nowhere") in proc.stderr


def test_train_export_goes_through_the_kind(pet, tmp_path):
    out = tmp_path / "sft.jsonl"
    run_pertool("train", "export", "--benchmark", "petoolbench:preferred", "--data-dir", pet, "--format", "trl",
                "--allow-test", "--profile-view", "no-history", "--out", out, check=True)  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all("Interaction history is" not in r["messages"][0]["content"] for r in records)
    native = run_pertool("train", "export", "--benchmark", "petoolbench:preferred", "--data-dir", pet, "--format",
                         "trl", "--allow-test", "--tool-mode", "native", "--out", tmp_path / "n.jsonl")  # fmt: skip
    assert native.returncode == 2 and "--tool-mode native does not apply" in native.stderr
    prompt = run_pertool("prompt", "--benchmark", "petoolbench", "--data-dir", pet, "--id", "ratings:1",
                         "--chat-format", "qwen")  # fmt: skip
    assert prompt.returncode == 2 and "--chat-format does not apply" in prompt.stderr


@pytest.mark.parametrize("command", ["eval", "score"])
def test_help_names_every_kind_spec(command):
    from pertool.kinds import all_kinds

    text = " ".join(run_pertool(command, "--help", check=True).stdout.split())
    for kind in all_kinds():
        for name in kind.spec_names:
            assert name in text, (command, name)
