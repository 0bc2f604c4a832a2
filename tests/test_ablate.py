"""`pertool ablate`: the profile ablation as run directories, a table and an SVG chart."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pertool.kinds import kind_named
from pertool.report.ablation import condition_view
from pertool.schema import Environment, GoldCall, Profile, Sample
from support.cli import run_pertool

SVG = "{http://www.w3.org/2000/svg}"


def ablate(out: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = run_pertool("ablate", "--out", out, "--no-progress", *args, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One response cache (and built-in benchmark) for the module."""
    return {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path_factory.mktemp("ablate-cache"))}


def table(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "ablation.csv", newline="", encoding="utf-8") as f:
        return {row["condition"]: row for row in csv.DictReader(f)}


def test_builtin_ablation_matches_the_paper_direction(tmp_path, env):
    out = tmp_path / "ablation"
    args = ("--benchmark", "builtin", "--model", "baseline/history", "--limit", "150")
    first = ablate(out, env, *args)
    for view in ("all", "no-basic", "no-history", "none"):
        run = out / view
        assert json.loads((run / "config.json").read_text())["profile_view"] == view
        assert len((run / "predictions.jsonl").read_text().splitlines()) == 150
        assert (run / "metrics.json").is_file()
    rows = table(out)
    assert list(rows) == ["all", "no-basic", "no-history", "none"]
    assert all(int(r["n"]) == 150 for r in rows.values())
    value = {c: {k: float(v) for k, v in r.items() if k not in ("condition", "run_dir") and v}
             for c, r in rows.items()}  # fmt: skip
    # The paper's section 5.3: without history the platform choice suffers; without the basic
    # features the profile-sourced parameters do.
    assert value["no-history"]["platform"] < value["all"]["platform"]
    assert value["no-basic"]["profile_param"] < value["all"]["profile_param"]
    assert value["none"]["platform"] < value["all"]["platform"]
    assert value["all"]["platform_low"] <= value["all"]["platform"] <= value["all"]["platform_high"]

    lines = first.stdout.splitlines()
    assert lines[0].startswith("Profile ablation: baseline/history on builtin")
    assert lines[1].split()[:3] == ["condition", "n", "Format"] and "Overall" in lines[1]
    assert any(line.split()[0] == "no-history" for line in lines[2:])
    assert "ablation.svg" in first.stdout

    markdown = (out / "ablation.md").read_text()
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 4 and len({line.count("|") for line in table_lines}) == 1

    svg = ET.parse(out / "ablation.svg").getroot()
    assert svg.tag == f"{SVG}svg"
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert {(b.get("data-condition"), b.get("data-metric")) for b in bars} <= {
        (c, m) for c in rows for m in ("overall", "platform", "profile_param")}
    heights = {(b.get("data-condition"), b.get("data-metric")): float(b.get("height", "0")) for b in bars}
    assert heights[("no-history", "platform")] < heights[("all", "platform")]

    # Again with the same --out: the runs are complete, nothing is asked again, same table.
    again = ablate(out, env, *args)
    assert again.stdout == first.stdout
    assert all(len((out / v / "predictions.jsonl").read_text().splitlines()) == 150 for v in rows)
    # A different run in the same place is refused, not mixed in.
    clash = ablate(out, env, "--benchmark", "builtin", "--model", "baseline/history", "--limit", "100",
                   check=False)  # fmt: skip
    assert clash.returncode == 2 and "holds a different run" in clash.stderr and "limit" in clash.stderr


def test_unknown_condition(tmp_path, env):
    proc = ablate(tmp_path / "x", env, "--benchmark", "builtin", "--model", "baseline/history", "--limit", "5",
                  "--conditions", "all,persona-only", check=False)  # fmt: skip
    assert proc.returncode == 2 and "persona-only" in proc.stderr and not (tmp_path / "x" / "all").exists()


def toolspectrum_sample() -> Sample:
    return Sample(id="persona_environment:0", benchmark="toolspectrum", split="persona_environment",
                  query="Play some music.", profile=Profile(basic_features={"age": 30, "likes": "jazz"}),
                  environment=Environment(noise="loud", battery="low"), gold_platform="Music",
                  gold_calls=[GoldCall(name="play", arguments={"genre": ["jazz"], "volume": ["high"]},
                                       sources={"genre": "personalized", "volume": "environmental"})])  # fmt: skip


def toolspectrum_condition(samples: list[Sample], condition: str) -> list[Sample]:
    return kind_named("toolspectrum").ablation_samples(samples, condition)


def test_toolspectrum_conditions_blank_one_side():
    sample = toolspectrum_sample()
    both, = toolspectrum_condition([sample], "both")
    persona_only, = toolspectrum_condition([sample], "persona-only")
    environment_only, = toolspectrum_condition([sample], "environment-only")
    assert condition_view(kind_named("toolspectrum"), "both") == "all"
    assert both == sample
    assert persona_only.profile.basic_features == sample.profile.basic_features
    assert persona_only.environment is not None and persona_only.environment.model_dump() == {}
    assert environment_only.profile.basic_features == {} and environment_only.environment == sample.environment
    for viewed in (persona_only, environment_only):  # the answer key is untouched
        assert viewed.gold_calls == sample.gold_calls and viewed.gold_platform == sample.gold_platform
    assert sample.environment is not None and sample.environment.model_dump() == {"noise": "loud", "battery": "low"}
    with pytest.raises(ValueError):  # a view it does not have (the generic profile views it has)
        toolspectrum_condition([sample], "no-such-view")


@pytest.mark.parametrize("data", ["built", "public"])
def test_toolspectrum_ablation(tmp_path, env, data, request):
    """On the directory the tests build, and on the public data where it is there."""
    name = "toolspectrum_dir" if data == "built" else "public_toolspectrum"
    data_dir = request.getfixturevalue(name)
    out = tmp_path / "ts"
    ablate(out, env, "--benchmark", "toolspectrum:environment", "--data-dir", str(data_dir),
           "--model", "baseline/rules", "--limit", "60", "--resamples", "0")
    rows = table(out)
    assert tuple(rows) == kind_named("toolspectrum").ablation_conditions
    for condition, blanked in (("persona-only", "environment"), ("environment-only", "persona")):
        record = json.loads((out / condition / "ablation.json").read_text())
        assert record["condition"] == condition and record["blanked"] == blanked
    # On the environment subset the environment is what matters: blanking it costs, blanking
    # the (empty) persona does not.
    assert float(rows["persona-only"]["accuracy"]) < float(rows["both"]["accuracy"])
    assert rows["environment-only"]["accuracy"] == rows["both"]["accuracy"]
    assert ET.parse(out / "ablation.svg").getroot().tag == f"{SVG}svg"
