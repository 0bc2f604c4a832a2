"""Hugging Face datasets: `data export --format hf` of every benchmark kind, `hf:PATH` loading it
back (same samples, same scores and fingerprint through the recorded kind's scorer), typed
features, the dataset card, `train export --format hf`, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import run_pertool
from support.petoolbench_fixture import write_json

# The oracle, and a baseline that answers the kind (baseline/history answers PTBench-shaped
# samples and PEToolBench; ToolSpectrum gets the seeded random one).
MODELS = {"example": ("oracle", "baseline/history"), "builtin-mini": ("oracle", "baseline/history"),
          "toolspectrum": ("oracle", "baseline/random"), "petoolbench": ("oracle", "baseline/history")}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One cache directory for the module (builtin-mini is generated once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERTOOL_CACHE_DIR", str(tmp_path_factory.mktemp("hf-cache")))
        yield


@pytest.fixture(scope="module")
def sources(env, tmp_path_factory, toolspectrum_dir):
    """(spec, --data-dir or None) of one source per benchmark kind, and the PTBench shapes."""
    petoolbench = write_json(tmp_path_factory.mktemp("pet") / "pet").parent
    return {"example": ("example", None), "builtin-mini": ("builtin-mini", None),
            "toolspectrum": ("toolspectrum:all", str(toolspectrum_dir)),
            "petoolbench": ("petoolbench:all", str(petoolbench))}


def cli(*args: str) -> int:
    from pertool.cli.main import main

    return main([*map(str, args)])


def data_dir_args(data_dir: str | None) -> list[str]:
    return ["--data-dir", data_dir] if data_dir else []


@pytest.fixture(scope="module")
def exports(sources, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    done = {}
    for name, (spec, data_dir) in sources.items():
        out = root / name
        assert cli("data", "export", "--benchmark", spec, "--format", "hf", "--out", out, *data_dir_args(data_dir)) == 0
        done[name] = out
    return done


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.parametrize("name", ["example", "builtin-mini", "toolspectrum", "petoolbench"])
def test_an_export_scores_as_its_source(name, sources, exports, tmp_path):
    from pertool.kinds import kind_for_spec, load_benchmark

    spec, data_dir = sources[name]
    source = load_benchmark(spec, data_dir)
    loaded = load_benchmark(f"hf:{exports[name]}")
    assert kind_for_spec(f"hf:{exports[name]}").name == kind_for_spec(spec).name
    # the same samples, in the same order; only where the kind keeps its files may differ
    location = set(kind_for_spec(spec).location_keys)
    assert [s.model_dump(exclude={"extra": location}) for s in loaded] == \
        [s.model_dump(exclude={"extra": location}) for s in source]
    for model in MODELS[name]:
        a, b = tmp_path / f"src-{model.replace('/', '-')}", tmp_path / f"hf-{model.replace('/', '-')}"
        assert cli("eval", "--benchmark", spec, *data_dir_args(data_dir), "--model", model, "--resamples", "200", "--out", a) == 0
        assert cli("eval", "--benchmark", f"hf:{exports[name]}", "--model", model, "--resamples", "200", "--out", b) == 0
        source_metrics, hf_metrics = metrics(a), metrics(b)
        assert hf_metrics == source_metrics  # scores, intervals, counts and the benchmark fingerprint
        assert source_metrics["answered"] == len(source)


def test_toolspectrum_export_carries_its_prompt_files(sources, exports, tmp_path):
    """Moved away from the source data (which is then gone), the export still renders prompts."""
    import shutil

    from pertool.kinds import kind_of, load_benchmark

    moved = tmp_path / "moved"
    shutil.copytree(exports["toolspectrum"], moved)
    spec, data_dir = sources["toolspectrum"]
    source = load_benchmark(spec, data_dir)
    loaded = load_benchmark(f"hf:{moved}")
    assert all(str(moved.resolve()) in s.extra["toolspectrum_root"] for s in loaded)
    for a, b in zip(source[:: len(source) // 5], loaded[:: len(source) // 5]):
        assert kind_of(b).prompt(b, "text") == kind_of(a).prompt(a, "text")


def test_features_are_declared_and_typed(exports):
    from datasets import DatasetDict, List, Value, load_from_disk

    saved = load_from_disk(str(exports["toolspectrum"]))
    assert isinstance(saved, DatasetDict) and list(saved) == ["persona", "environment", "persona_environment"]
    features = saved["persona"].features
    for field in ("id", "benchmark", "split", "user_id", "query", "gold_platform", "profile", "gold_calls", "extra"):
        assert features[field] == Value("string"), field
    assert features["position"] == Value("int64")
    assert features["tool_names"] == List(Value("string"))
    row = saved["persona"][0]
    assert row["id"] == "persona:0" and row["split"] == "persona"
    gold = json.loads(row["gold_calls"])  # mixed-type values kept exactly
    assert gold and all(isinstance(values, list) for call in gold for values in call["arguments"].values())


def test_the_card_names_source_license_version_and_counts(exports):
    from pertool.versions import __version__

    card = (exports["toolspectrum"] / "README.md").read_text()
    assert card.startswith("---\n") and "Source: `toolspectrum:all`" in card
    assert "ToolSpectrum" in card and "authors' terms" in card and f"pertool version: {__version__}" in card
    assert "| persona | 90 |" in card and "| (all) | 234 |" in card and "`gold_calls`" in card
    builtin = (exports["builtin-mini"] / "README.md").read_text()
    assert "pertool's license" in builtin and "| trained | 100 |" in builtin


def test_an_export_of_an_export_keeps_the_original_source(exports, tmp_path):
    out = tmp_path / "again"
    assert cli("data", "export", "--benchmark", f"hf:{exports['petoolbench']}", "--format", "hf", "--out", out) == 0
    info = json.loads((out / "pertool-dataset.json").read_text())
    assert info["source"] == "petoolbench:all" and info["kind"] == "petoolbench"
    assert "PEToolBench" in (out / "README.md").read_text()


def test_train_export_hf_round_trips_the_trl_records(env, tmp_path):
    from datasets import List, Value, load_from_disk

    from pertool.hfdata.sft import record_of

    for mode in ("text", "native"):
        jsonl, out = tmp_path / f"{mode}.jsonl", tmp_path / f"hf-{mode}"
        common = ["--benchmark", "example", "--allow-test", "--tool-mode", mode]
        assert cli("train", "export", *common, "--format", "trl", "--out", jsonl) == 0
        assert cli("train", "export", *common, "--format", "hf", "--out", out) == 0
        records = [json.loads(line) for line in jsonl.read_text().splitlines()]
        saved = load_from_disk(str(out))
        assert list(saved) == ["trained", "untrained"]
        assert saved["trained"].features["messages"].feature["role"] == Value("string")
        assert saved["trained"].features["id"] == Value("string")
        assert isinstance(saved["trained"].features["messages"], List)
        rows = [row for split in saved.values() for row in split]
        assert [record_of(row) for row in rows] == records
        assert "| trained | 4 |" in (out / "README.md").read_text()


def test_refusals_are_one_line(exports, tmp_path, env):
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("keep me")
    proc = run_pertool("data", "export", "--benchmark", "example", "--format", "hf", "--out", user_dir)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "pertool did not write" in proc.stderr
    assert sorted(p.name for p in user_dir.iterdir()) == ["notes.txt"]
    # an earlier export is not written over either (its other splits would stay beside the new ones)
    assert cli("data", "export", "--benchmark", "example", "--format", "hf", "--out", exports["example"]) == 2
    for bad in (tmp_path / "missing", user_dir, tmp_path / "mine" / "notes.txt"):
        proc = run_pertool("eval", "--benchmark", f"hf:{bad}", "--model", "oracle", "--out", tmp_path / "run")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("pertool: error: hf:") and "data export --format hf" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_damaged_export_is_one_line_naming_the_row_and_field(exports, tmp_path, env):
    import shutil

    from datasets import load_from_disk

    from pertool.errors import PertoolError
    from pertool.kinds import load_benchmark

    saved = load_from_disk(str(exports["example"]))
    damaged = tmp_path / "damaged"
    broken = saved["untrained"].map(lambda row, i: {"profile": "{not json" if i == 2 else row["profile"]},
                                    with_indices=True)
    type(saved)({"trained": saved["trained"], "untrained": broken}).save_to_disk(str(damaged))
    shutil.copy(exports["example"] / "pertool-dataset.json", damaged)
    with pytest.raises(PertoolError, match=r"damaged/untrained, sample 2, field profile: not valid JSON"):
        load_benchmark(f"hf:{damaged}")
    # the recorded kind must own the samples: a PTBench export claiming to be ToolSpectrum is refused
    claimed = tmp_path / "claimed"
    shutil.copytree(exports["example"], claimed)
    info = json.loads((claimed / "pertool-dataset.json").read_text())
    (claimed / "pertool-dataset.json").write_text(json.dumps({**info, "kind": "toolspectrum"}))
    with pytest.raises(PertoolError, match="belongs to the ptbench kind, not toolspectrum"):
        load_benchmark(f"hf:{claimed}")
    for bad in ("hf:", f"hf:{exports['example'] / 'trained'}"):
        with pytest.raises(PertoolError, match="hf:"):
            load_benchmark(bad)


def test_a_missing_extra_names_the_install_command(tmp_path):
    """`datasets` made unimportable in a real subprocess: one line, nothing written."""
    import subprocess
    import sys

    out = tmp_path / "out"
    code = ("import sys; sys.modules['datasets'] = None\n"
            "from pertool.cli.main import main\n"
            f"sys.exit(main(['data', 'export', '--benchmark', 'example', '--format', 'hf', '--out', {str(out)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "pip install 'pertool[datasets]'" in proc.stderr and not out.exists()
