"""Bootstrap clusters (`BenchmarkKind.cluster_key`): samples a kind draws together (PEToolBench's
entry, posed in all three settings) are drawn as whole clusters by the scorer's intervals,
compare's rows and paired test and the report's breakdowns alike; independent samples (PTBench,
ToolSpectrum) keep the per-split draw, number for number. PEToolBench runs are written by
`pertool eval` on the fixture the tests write."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pertool.kinds import kind_named, load_benchmark
from pertool.kinds.score import score
from pertool.report.compare import build_leaderboard, load_runs, paired_bootstrap
from pertool.report.rundata import load_run
from pertool.scoring.bootstrap import bootstrap_counts, bootstrap_samples
from pertool.scoring.results import COUNT_COLUMNS, OVERALL, metrics_from_counts
from support.cli import run_pertool
from support.petoolbench_fixture import write_json

RESAMPLES = 400


def _ptbench_rows(rng: np.random.Generator, n: int) -> list[tuple[int, ...]]:
    rows = []
    for _ in range(n):
        ok = rng.random(6) < 0.6
        q, p = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        rows.append((1, *map(int, ok), int(rng.integers(0, q + 1)), q, int(rng.integers(0, p + 1)), p))
    return rows


def test_independent_samples_keep_the_per_split_draw():
    rng = np.random.default_rng(5)
    splits = ["trained"] * 40 + ["untrained"] * 25 + ["test"] * 10
    rows = _ptbench_rows(rng, len(splits))
    ids = [f"{s}:{i}" for i, s in enumerate(splits)]
    by_split: dict[str, list[tuple[int, ...]]] = {}
    for split, row in zip(splits, rows):
        by_split.setdefault(split, []).append(row)
    want = bootstrap_counts(by_split, metrics_from_counts, width=len(COUNT_COLUMNS), resamples=RESAMPLES, seed=3)
    got = bootstrap_samples(rows, splits, ids, metrics_from_counts, width=len(COUNT_COLUMNS),
                            resamples=RESAMPLES, seed=3)  # fmt: skip
    assert got == want and set(got) == {"trained", "untrained", "test", OVERALL}


def test_clusters_are_drawn_jointly_across_splits():
    """Two settings whose rows are the same per entry: drawn by entry, every replicate gives both
    settings the same totals, so their intervals are equal and the mean of the two is that
    interval too; drawn per sample, the overall interval is narrower (the settings' errors
    average out as if they were independent)."""
    kind = kind_named("petoolbench")
    rng = np.random.default_rng(1)
    entry_rows = [(1, 1, int(t), int(p), int(t and p), 0) for t, p in rng.random((60, 2)) < 0.5]
    rows = entry_rows + entry_rows
    splits = ["preferred"] * 60 + ["ratings"] * 60
    entries = [str(i) for i in range(60)] * 2
    joint = bootstrap_samples(rows, splits, entries, kind.metrics_from_counts, width=6, resamples=RESAMPLES, seed=0)
    assert joint["preferred"] == joint["ratings"]
    assert joint[OVERALL]["tool_acc"] == pytest.approx(joint["preferred"]["tool_acc"])
    alone = bootstrap_samples(rows, splits, [f"{s}:{e}" for s, e in zip(splits, entries)], kind.metrics_from_counts,
                              width=6, resamples=RESAMPLES, seed=0)  # fmt: skip
    width = {name: iv[OVERALL]["tool_acc"][1] - iv[OVERALL]["tool_acc"][0]
             for name, iv in (("joint", joint), ("alone", alone))}  # fmt: skip
    assert width["alone"] < 0.85 * width["joint"]


def test_the_paired_test_draws_clusters_for_both_runs():
    """In each entry run A is right in one setting and run B in the other: drawn by entry, every
    replicate's difference is 0; drawn per sample it is not. Without clusters (or with one
    sample per cluster) the test is the per-sample draw it always was."""
    n = 50
    a = np.array([[1.0, 1.0], [1.0, 0.0]] * n)  # columns: n, correct
    b = np.array([[1.0, 0.0], [1.0, 1.0]] * n)
    clusters = [str(i // 2) for i in range(2 * n)]
    ids = [f"s{i}" for i in range(2 * n)]
    mean = lambda t: t[..., 1] / t[..., 0]  # noqa: E731
    joint = paired_bootstrap(a, b, mean, clusters=clusters, ids=ids, resamples=RESAMPLES)
    assert (joint.low, joint.high, joint.p_value, joint.clusters) == (0.0, 0.0, 1.0, n)
    assert joint.ids == tuple(ids) and joint.shared == 2 * n
    alone = paired_bootstrap(a, b, mean, resamples=RESAMPLES)
    assert alone.low is not None and alone.high is not None and alone.low < 0 < alone.high
    assert paired_bootstrap(a, b, mean, clusters=ids, resamples=RESAMPLES) == replace(alone, clusters=2 * n)
    with pytest.raises(ValueError):
        paired_bootstrap(a, b, mean, clusters=clusters[:-1])


@pytest.fixture(scope="module")
def petoolbench_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clusters")
    data = root / "data"
    write_json(data)
    runs = {}
    for model in ("random", "history"):
        runs[model] = root / model
        run_pertool("eval", "--benchmark", "petoolbench:all", "--data-dir", data, "--model", f"baseline/{model}",
                    "--out", runs[model], "--resamples", str(RESAMPLES), env={"PERTOOL_DATA_DIR": str(data)},
                    check=True)  # fmt: skip
    runs["data"] = data
    return runs


def test_compare_gives_the_intervals_eval_wrote(petoolbench_runs: dict[str, Path]):
    paths = [petoolbench_runs["random"], petoolbench_runs["history"]]
    loaded = load_runs(paths, resamples=RESAMPLES)
    for run in loaded:
        saved = json.loads((run.path / "metrics.json").read_text())["intervals"][OVERALL]
        assert run.intervals == saved
        assert any(iv is not None and iv[0] < iv[1] for iv in saved.values())  # something to compare
    board = build_leaderboard(loaded, resamples=RESAMPLES)
    test = board.tests[1]
    assert test is not None and test.shared == 18 and test.clusters == 6
    assert set(test.ids) == {s.id for s in load_benchmark("petoolbench:all", petoolbench_runs["data"])}


def test_a_breakdown_group_is_drawn_as_its_own_eval(petoolbench_runs: dict[str, Path]):
    """A breakdown group's interval is the one the scorer gives the group's samples alone."""
    run = load_run(petoolbench_runs["history"], data_dir=str(petoolbench_runs["data"]))
    samples = load_benchmark("petoolbench:all", petoolbench_runs["data"])
    lines = (petoolbench_runs["history"] / "predictions.jsonl").read_text().splitlines()
    outputs = {record["id"]: record["output"] for record in map(json.loads, lines)}
    by_size = next(b for b in run.breakdowns if b.name == "same-function group")
    group = "2 providers"
    members = [s for s in samples if len(s.extra["metadata"]["apis_same_func"]) == 2]
    assert by_size.counts[group] == len(members) == 6
    alone = score(members, outputs, resamples=RESAMPLES, seed=0)
    assert by_size.intervals[group] == alone.intervals[OVERALL]
