"""The shortcut audit (`pertool.audit`, `pertool audit`): on the ToolSpectrum directory the tests
build (its environmental values follow one field each, with a little noise), and on the public
ToolSpectrum data where it is there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pertool.audit import (
    FeatureSpace,
    Row,
    assign_folds,
    audit,
    context_key,
    learn_majority_map,
    learn_tree,
    value_key,
)
from pertool.benchmarks.toolspectrum import load_toolspectrum
from pertool.cli.main import main
from support.cli import run_pertool

NAMED = {"resourceLoading": "Network Condition", "performanceMode": "Battery Level",
         "enableVoiceOver": "Special User Configuration"}  # fmt: skip


@pytest.fixture(scope="module")
def environment(toolspectrum_dir: Path):
    return load_toolspectrum("environment", toolspectrum_dir)


@pytest.fixture(scope="module")
def report(environment):
    return audit(environment, folds=5, seed=0)


def test_names_the_single_fields_that_decide_the_environmental_params(report, environment):
    for param, field in NAMED.items():
        target = report.param(param)
        assert (target.cls, target.best_field) == ("environmental", field)
        assert target.n >= 0.9 * len(environment)
        assert target.field_accuracy >= 0.95, (param, target)
        assert target.field_accuracy >= target.majority_accuracy + 0.15, (param, target)
        assert target.tree_accuracy >= 0.9, (param, target)
    assert {t.cls for t in report.params} == {"environmental"}
    assert report.samples == len(environment) == 120 and report.app is not None and report.app.n == 120
    # the fixture's noisy parameters are not shortcuts: the audit must not call them one
    captions = report.param("enableCaptions")
    assert captions.best_field == "Special User Configuration" and captions.field_accuracy < 0.8


def test_json_shape(report):
    data = json.loads(json.dumps(report.to_json()))
    assert len(data["params"]) == 7
    for entry in data["params"]:
        assert {"param", "class", "best_field", "field_accuracy", "tree_accuracy", "n"} <= entry.keys()
        assert 0 <= entry["field_accuracy"] <= 1 and 0 <= entry["tree_accuracy"] <= 1
    assert {"best_field", "field_accuracy", "tree_accuracy", "n"} <= data["app"].keys()
    assert "param" not in data["app"]
    assert (data["folds"], data["seed"]) == (5, 0)


def test_folds_are_deterministic_and_hold_each_context_out_whole(environment):
    groups = {s.id: context_key(s) for s in environment}
    folds = assign_folds(groups, 5, 0, groups)
    assert folds == assign_folds(groups, 5, 0, groups)
    assert folds != assign_folds(groups, 5, 1, groups)
    by_group: dict[str, set[int]] = {}
    for sample_id, fold in folds.items():
        by_group.setdefault(groups[sample_id], set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())
    assert len(by_group) < len(environment)  # ToolSpectrum reuses environments across samples
    sizes = [list(folds.values()).count(k) for k in range(5)]
    assert min(sizes) >= 0.1 * len(environment), sizes


def test_values_are_keyed_canonically_whatever_their_type():
    assert value_key(["b", "a"]) == value_key(["a", "b"])
    assert value_key({"x": [2, 1]}) == value_key({"x": [1, 2]})
    assert value_key("True") == value_key(True) and value_key(" New  York") == value_key("new york")
    assert value_key(20) == value_key(20.0) and value_key(1) != value_key(True)


def _row(i: int, label: object, **features: str) -> Row:
    return Row(f"s{i}", features, value_key(label), label, [label])


def test_majority_map_falls_back_to_the_global_majority_on_unseen_values():
    rows = [_row(0, ["a"], f="x"), _row(1, ["a"], f="x"), _row(2, {"k": 1}, f="y"), _row(3, ["a"], f="z")]
    rule = learn_majority_map(rows, "f")
    assert rule.predict({"f": "y"}) == {"k": 1}
    assert rule.predict({"f": "never seen"}) == ["a"] and rule.predict({}) == ["a"]


def test_tree_finds_a_two_field_rule_no_single_field_has():
    rows = []
    for i in range(6):
        rows.append(_row(i, "hi", a="1", b="1"))
    for i in range(6, 9):
        rows.append(_row(i, "lo", a="1", b="0"))
    for i in range(9, 15):
        rows.append(_row(i, "lo", a="0", b=str(i % 2)))
    tree = learn_tree(rows, ["a", "b"], max_depth=3)
    assert all(tree.predict(r.features) == r.value for r in rows)
    assert tree.depth() == 2
    for field in ("a", "b"):
        single = learn_majority_map(rows, field)
        assert sum(single.predict(r.features) == r.value for r in rows) < len(rows)


def test_feature_space_reads_persona_scalars_quartiles_bmi_and_preference_words(toolspectrum_dir):
    persona = load_toolspectrum("persona", toolspectrum_dir)
    space = FeatureSpace.fit(persona)
    fields = space.fields()
    assert {"Income Level", "Age", "Age (quartile)", "BMI (class)", "API"} <= set(fields)
    assert any(f.startswith("Preferences: ") for f in fields)
    features = space.features(persona[0], "createHealthPlan")
    assert features["API"] == "createHealthPlan" and features["Age (quartile)"].startswith("q")
    assert set(features) == set(fields)


def test_cli_json_through_a_subprocess(toolspectrum_dir):
    proc = run_pertool("audit", "--benchmark", "toolspectrum:environment", "--data-dir", toolspectrum_dir, "--json",
                       timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_param = {p["param"]: p for p in data["params"]}
    for param, field in NAMED.items():
        assert by_param[param]["best_field"] == field and by_param[param]["field_accuracy"] >= 0.95
    assert data["app"]["n"] == 120 and "reasoning" in data["explanation"]


def test_cli_table(capsys, toolspectrum_dir):
    assert main(["audit", "--benchmark", "toolspectrum:environment", "--data-dir", str(toolspectrum_dir),
                 "--folds", "3", "--seed", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "3-fold cross-validation (seed 1)" in out and "without reasoning" in out
    line = next(li for li in out.splitlines() if li.startswith("resourceLoading"))
    assert "Network Condition" in line
    assert out.splitlines()[-1].startswith("APP (app choice)")


def test_cli_rejects_a_single_fold(capsys, toolspectrum_dir):
    assert main(["audit", "--benchmark", "toolspectrum:environment", "--data-dir", str(toolspectrum_dir),
                 "--folds", "1"]) == 2  # fmt: skip
    assert "--folds" in capsys.readouterr().err


# --- on the public data (skipped without it; required where .ci/run finds ../shared) ---------------


def test_public_environment_subset_names_its_shortcuts(public_toolspectrum):
    environment = load_toolspectrum("environment", public_toolspectrum)
    report = audit(environment, folds=5, seed=0)
    for param, field in NAMED.items():
        target = report.param(param)
        assert (target.cls, target.best_field) == ("environmental", field)
        assert target.n >= 200
        assert target.field_accuracy >= 0.95, (param, target)
        assert target.field_accuracy >= target.majority_accuracy + 0.15, (param, target)
        assert target.tree_accuracy >= 0.9, (param, target)
    assert {t.cls for t in report.params} == {"environmental"} and len(report.params) == 7
    assert report.samples == 220 and report.app is not None and report.app.n == 220
    groups = {s.id: context_key(s) for s in environment}
    assert len(set(groups.values())) < len(environment)  # ToolSpectrum reuses environments across samples


def test_public_persona_subset_feature_space(public_toolspectrum):
    persona = load_toolspectrum("persona", public_toolspectrum)[:120]
    fields = FeatureSpace.fit(persona).fields()
    assert {"Income Level", "Age", "Age (quartile)", "BMI (class)", "API"} <= set(fields)
    assert any(f.startswith("Preferences: ") for f in fields)
