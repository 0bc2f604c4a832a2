"""The built-in benchmark: catalog, generator determinism, rule verification, exports, and the
difficulty ordering of oracle > baseline/history > baseline/random (with the paper's ablation)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pertool.benchmarks.builtin import write_dataset
from pertool.benchmarks.dataset import load_dataset
from pertool.benchmarks.ptbench import load_ptbench
from pertool.builtin.catalog import load_catalog
from pertool.builtin.generate import GeneratorSettings, generate
from pertool.builtin.rules import first_failure
from support.cli import run_pertool

SMALL = GeneratorSettings(seed=7, users=16, untrained_users=3, train=150, test_trained=150, test_untrained=300)


def test_catalog_has_360_platform_apis():
    catalog = load_catalog()
    assert [s.scenario for s in catalog] == ["shopping", "takeout", "entertainment", "work", "travel"]
    assert sum(len(s.platforms) * len(s.apis) for s in catalog) == 360
    for scenario in catalog:
        with_profile = [a for a in scenario.apis if any(a.source(p).startswith("profile:") for p in a.parameters)]
        assert len(with_profile) >= 12, scenario.scenario


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    def files(seed: int, where: str) -> dict[str, bytes]:
        settings = GeneratorSettings(**{**SMALL.__dict__, "seed": seed})
        out = tmp_path / where
        write_dataset(generate(settings), out)
        return {p.name: p.read_bytes() for p in out.iterdir()}

    first, again, other = files(7, "a"), files(7, "b"), files(8, "c")
    assert first == again
    assert first["test.jsonl"] != other["test.jsonl"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("builtin")
    generated = generate(SMALL)
    write_dataset(generated, out / "pertool")
    write_dataset(generated, out / "ptbench", "ptbench")
    return out, generated


def test_every_emitted_sample_passes_the_rules(dataset):
    out, generated = dataset
    samples = generated.train + generated.test
    assert [first_failure(s) for s in samples] == [None] * len(samples)
    reloaded = load_dataset(out / "pertool", "test") + load_dataset(out / "pertool", "train")
    assert all(first_failure(s) is None for s in reloaded)


def test_splits_users_and_contents(dataset):
    _, generated = dataset
    test = generated.test
    assert [s.split for s in test].count("trained") == 150 and [s.split for s in test].count("untrained") == 300
    train_users = {s.user_id for s in generated.train}
    untrained_users = {s.user_id for s in test if s.split == "untrained"}
    assert len(untrained_users) == 3 and not train_users & untrained_users
    assert {s.user_id for s in test if s.split == "trained"} <= train_users
    needs = [s.extra["builtin"]["need"] for s in test]
    assert 0.1 < sum(n is not None for n in needs) / len(needs) < 0.4
    assert any(len(s.gold_calls) > 1 for s in test)  # chains
    for s in test:  # profile values are left out of the query (not even a substring), query values are in it
        for call in s.gold_calls:
            for param, source in call.sources.items():
                value = str(call.arguments[param][0]).lower()
                assert (value in s.query.lower()) == (source == "query")


def test_most_used_platform_overall_is_often_wrong(dataset):
    from collections import Counter

    _, generated = dataset
    plain = [s for s in generated.test if s.extra["builtin"]["need"] is None]
    wrong = 0
    for s in plain:
        scenario = s.extra["builtin"]["scenario"]
        counts = Counter(r.platform for r in s.profile.user_history[scenario])
        wrong += counts.most_common(1)[0][0] != s.gold_platform
    assert 0.15 < wrong / len(plain) < 0.7


def test_ptbench_export_loads_with_the_core_loader(dataset):
    out, generated = dataset
    loaded = load_ptbench(out / "ptbench")
    assert [s.id for s in loaded] == [s.id for s in generated.test]
    for a, b in zip(loaded, generated.test):
        assert (a.query, a.gold_platform, a.gold_calls) == (b.query, b.gold_platform, b.gold_calls)
    train = json.loads((out / "ptbench" / "train" / "data.json").read_text())
    assert len(train) == 150 and set(train[0]) >= {"user_profile", "platforms", "tools", "query", "answer"}


def _eval(root: Path, model: str, env: dict, *extra: str) -> dict:
    proc = run_pertool("eval", "--benchmark", f"dataset:{root}", "--model", model,
                       "--out", root.parent / ("run-" + "-".join([model, *extra]).replace("/", "-")),
                       "--no-progress", "--json", "--resamples", "0", *extra, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["splits"]["overall"]


def test_oracle_beats_history_beats_random_and_the_ablation_moves_as_in_the_paper(dataset, tmp_path):
    out, _ = dataset
    root = out / "pertool"
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    oracle = _eval(root, "oracle", env)
    history = _eval(root, "baseline/history", env)
    random_ = _eval(root, "baseline/random", env)
    no_history = _eval(root, "baseline/history", env, "--profile-view", "no-history")
    no_basic = _eval(root, "baseline/history", env, "--profile-view", "no-basic")
    assert all(v == 1.0 for v in oracle.values())
    for metric in ("platform", "profile_param"):
        assert random_[metric] < history[metric] < oracle[metric], metric
    assert abs(no_history["platform"] - random_["platform"]) < 0.1
    assert no_basic["profile_param"] < history["profile_param"] - 0.2
