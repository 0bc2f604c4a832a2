"""`pertool compare`: leaderboards and paired bootstrap tests on runs of the loopback mock server.

The mock server answers each sample's gold, except the samples its seed corrupts (wrong
platform), so which answers are right is known without pertool's scorer; the tests compute the
paired bootstrap from that directly and hold `pertool compare` to the same conclusion.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pertool.cli.main import main
from pertool.kinds import load_benchmark
from pertool.kinds.score import score
from pertool.mock_server import MockServer, MockSettings
from pertool.report.compare import paired_bootstrap, ptbench_table, toolspectrum_table
from pertool.runner.limit import limit_samples
from pertool.schema import Sample
from pertool.scoring.results import METRIC_KEYS, SampleResult, aggregate
from support.cli import PERTOOL, run_pertool

N, RESAMPLES, SEED, ALPHA = 300, 2000, 0, 0.05
PARALLEL = 2
# name: (corrupt_rate, seed) of the server that answered it
SERVERS = {"r30s1": (0.3, 1), "r30s2": (0.3, 2), "r30s3": (0.3, 3), "r10s1": (0.1, 1), "r60s2": (0.6, 2)}


@dataclass
class Runs:
    root: Path
    env: dict[str, str]
    samples: list[Sample]
    servers: dict[str, MockServer]  # run name -> the server that answered it

    def dir(self, name: str) -> Path:
        return self.root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("compare")
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(root / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERTOOL_CACHE_DIR", env["PERTOOL_CACHE_DIR"])
        # the runs' --limit sample (seeded, stratified); generated once into the shared cache
        samples = limit_samples(load_benchmark("builtin"), N, SEED)
    servers = {name: MockServer(samples, MockSettings(corrupt_rate=r, seed=s)) for name, (r, s) in SERVERS.items()}
    jobs = {**{name: (name, []) for name in SERVERS}, "r30s1-again": ("r30s1", ["--no-cache"])}
    urls = {name: server.start() for name, server in servers.items()}
    try:
        pending = list(jobs.items())
        while pending:  # two at a time: the servers share this process
            batch, pending = pending[:PARALLEL], pending[PARALLEL:]
            procs = {name: subprocess.Popen([*PERTOOL, "eval", "--model", "openai-compatible/mock", "--base-url",
                                             urls[server], "--benchmark", "builtin", "--limit", str(N), "--no-progress",
                                             "--resamples", "0", "--out", str(root / name), *extra],
                                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for name, (server, extra) in batch}
            for name, proc in procs.items():
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, f"{name}: {err}"
    finally:
        for server in servers.values():
            server.stop()
    servers["r30s1-again"] = servers["r30s1"]
    return Runs(root, env, samples, servers)


def correct(runs: Runs, name: str) -> dict[str, bool]:
    """Which samples the run got right: the ones its server did not corrupt."""
    return {s.id: not runs.servers[name].corrupted(s) for s in runs.samples}


def direct_test(a: dict[str, bool], b: dict[str, bool], *, seed: int, resamples: int) -> dict[str, float]:
    """Paired bootstrap of mean(b) - mean(a) over the shared ids, written out plainly."""
    ids = [i for i in a if i in b]
    x = np.array([a[i] for i in ids], dtype=float)
    y = np.array([b[i] for i in ids], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    d = y[idx].mean(axis=1) - x[idx].mean(axis=1)
    low, high = np.quantile(d, [ALPHA / 2, 1 - ALPHA / 2])
    p = min(1.0, 2 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    return {"diff": float(y.mean() - x.mean()), "low": float(low), "high": float(high), "p": p}


def compare(runs: Runs, *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> str:
    monkeypatch.setenv("PERTOOL_CACHE_DIR", runs.env["PERTOOL_CACHE_DIR"])
    capsys.readouterr()
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_scorer_agrees_with_the_server(runs):
    """The basis of the direct computation: right answers are exactly the uncorrupted ones."""
    for name in ("r30s1", "r60s2"):
        records = map(json.loads, (runs.dir(name) / "predictions.jsonl").read_text().splitlines())
        outputs = {r["id"]: r["output"] for r in records}
        report = score(runs.samples, outputs, resamples=0)
        assert {r.sample_id: r.overall for r in report.results} == correct(runs, name)


@pytest.mark.parametrize(("first", "second", "expected"), [
    ("r30s1", "r30s2", None),  # same rate, different seeds: whatever the direct computation says
    ("r30s1", "r30s3", None),
    ("r10s1", "r60s2", True),  # clearly different rates: significant
    ("r30s1", "r30s1-again", False),  # identical outputs: never significant
])
def test_paired_test_matches_a_direct_computation(runs, first, second, expected, monkeypatch, capsys):
    out = compare(runs, str(runs.dir(first)), str(runs.dir(second)), "--format", "csv", "--resamples",
                  str(RESAMPLES), "--seed", str(SEED), monkeypatch=monkeypatch, capsys=capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    a, b = correct(runs, first), correct(runs, second)
    best, other = (first, second) if np.mean(list(a.values())) >= np.mean(list(b.values())) else (second, first)
    assert [r["run"] for r in rows] == [best, other]
    tested = rows[1]
    direct = direct_test(correct(runs, best), correct(runs, other), seed=SEED, resamples=RESAMPLES)
    significant = direct["p"] < ALPHA
    if expected is not None:
        assert significant is expected
    assert tested["significant"] == str(significant).lower()
    assert int(tested["shared_n"]) == N
    assert float(tested["diff_vs_best"]) == pytest.approx(direct["diff"], abs=1e-6)
    assert float(tested["p_value"]) == pytest.approx(direct["p"], abs=1e-6)
    assert float(tested["diff_low"]) == pytest.approx(direct["low"], abs=1e-6)
    assert float(tested["diff_high"]) == pytest.approx(direct["high"], abs=1e-6)
    # An independent draw (another seed, more replicates) lands close: the statistic, not the stream.
    other_draw = direct_test(correct(runs, best), correct(runs, other), seed=12345, resamples=4000)
    assert float(tested["p_value"]) == pytest.approx(other_draw["p"], abs=0.04)
    assert float(tested["diff_low"]) == pytest.approx(other_draw["low"], abs=0.015)
    # The terminal table marks exactly the non-significant difference.
    terminal = compare(runs, str(runs.dir(first)), str(runs.dir(second)), "--resamples", str(RESAMPLES),
                       monkeypatch=monkeypatch, capsys=capsys)
    test_line = next(line for line in terminal.splitlines() if line.startswith(other + " "))
    assert test_line.rstrip().endswith("n.s." if not significant else "significant")


def test_identical_runs_are_not_different(runs, monkeypatch, capsys):
    out = compare(runs, str(runs.dir("r30s1")), str(runs.dir("r30s1-again")), "--format", "csv",
                  monkeypatch=monkeypatch, capsys=capsys)
    tested = list(csv.DictReader(io.StringIO(out)))[1]
    assert float(tested["diff_vs_best"]) == 0 and float(tested["p_value"]) == 1
    assert tested["significant"] == "false"


def test_formats_parse(runs, monkeypatch, capsys, tmp_path):
    dirs = [str(runs.dir(n)) for n in ("r60s2", "r30s1", "r10s1")] + ["--resamples", "300"]
    table = list(csv.reader(io.StringIO(compare(runs, *dirs, "--format", "csv", monkeypatch=monkeypatch,
                                                capsys=capsys))))
    header, body = table[0], table[1:]
    assert len(body) == 3 and all(len(row) == len(header) for row in body)
    assert [row[header.index("run")] for row in body] == ["r10s1", "r30s1", "r60s2"]  # best first
    assert {f"{m}{s}" for m in METRIC_KEYS for s in ("", "_low", "_high")} <= set(header)
    ranked = [float(row[header.index("overall")]) for row in body]
    assert ranked == sorted(ranked, reverse=True)

    markdown = compare(runs, *dirs, "--format", "markdown", monkeypatch=monkeypatch, capsys=capsys)
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 3
    assert all(line.endswith("|") for line in lines)
    assert len({line.count(" | ") for line in lines[:1] + lines[2:]}) == 1
    assert set(lines[1].replace("|", "").replace(":", "")) == {"-"}

    latex = compare(runs, *dirs, "--format", "latex", "--metric", "platform", monkeypatch=monkeypatch,
                    capsys=capsys)  # fmt: skip
    assert "\\begin{tabular}" in latex and "\\end{tabular}" in latex
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    rows = [line for line in latex.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 4 and len({r.count(" & ") for r in rows}) == 1

    terminal = compare(runs, *dirs, monkeypatch=monkeypatch, capsys=capsys)
    assert "Overall" in terminal and "95% CI" in terminal and "Paired bootstrap" in terminal
    out_file = tmp_path / "board.md"
    compare(runs, *dirs, "--format", "markdown", "--out", str(out_file), monkeypatch=monkeypatch, capsys=capsys)
    assert out_file.read_text() == markdown


def test_through_a_subprocess_and_refusals(runs, tmp_path):
    proc = run_pertool("compare", runs.dir("r10s1"), runs.dir("r60s2"), env=runs.env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "r10s1" in proc.stdout.splitlines()[2] and "significant" in proc.stdout

    other = tmp_path / "other-benchmark"
    shutil.copytree(runs.dir("r30s1"), other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "benchmark": "example"}))
    proc = run_pertool("compare", runs.dir("r30s1"), other, env=runs.env, timeout=120)
    assert proc.returncode == 2 and "different benchmarks" in proc.stderr

    proc = run_pertool("compare", runs.dir("r30s1"), tmp_path, env=runs.env, timeout=120)
    assert proc.returncode == 2 and "not a run directory" in proc.stderr


def test_unknown_metric(runs, monkeypatch, capsys):
    monkeypatch.setenv("PERTOOL_CACHE_DIR", runs.env["PERTOOL_CACHE_DIR"])
    assert main(["compare", str(runs.dir("r30s1")), "--metric", "app_f1"]) == 2
    assert "unknown metric 'app_f1'" in capsys.readouterr().err


def test_partial_runs_are_tested_on_shared_samples(runs, tmp_path, monkeypatch, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(runs.dir("r30s2"), partial)
    lines = (partial / "predictions.jsonl").read_text().splitlines()
    (partial / "predictions.jsonl").write_text("\n".join(lines[:200]) + "\n")
    out = compare(runs, str(runs.dir("r30s1")), str(partial), "--format", "csv", monkeypatch=monkeypatch,
                  capsys=capsys)  # fmt: skip
    tested = list(csv.DictReader(io.StringIO(out)))[1]
    assert int(tested["shared_n"]) == 200
    answered = {json.loads(line)["id"] for line in lines[:200]}
    a = {i: v for i, v in correct(runs, "r30s1").items() if i in answered}
    b = {i: v for i, v in correct(runs, "r30s2").items() if i in answered}
    assert float(tested["diff_vs_best"]) == pytest.approx(direct_test(a, b, seed=SEED, resamples=10)["diff"])


def test_runs_over_different_sample_sets(runs, tmp_path, monkeypatch, capsys):
    """A run over more samples (a wider --limit sample) against one over 300: the leaderboard
    scores each on its own samples, the test pairs the shared ones."""
    wider = tmp_path / "wider"
    shutil.copytree(runs.dir("r60s2"), wider)
    config = json.loads((wider / "config.json").read_text())
    (wider / "config.json").write_text(json.dumps({**config, "limit": 600}))
    # Its stored scores are of the 300 samples it ran: compare refuses it as scored against other
    # benchmark content...
    monkeypatch.setenv("PERTOOL_CACHE_DIR", runs.env["PERTOOL_CACHE_DIR"])
    assert main(["compare", str(runs.dir("r30s1")), str(wider)]) == 2
    assert "benchmark_fingerprint differs" in capsys.readouterr().err
    # ...until the records are gone (as in a run of an older pertool): then it is re-scored.
    (wider / "scores.jsonl").unlink()
    metrics = json.loads((wider / "metrics.json").read_text())
    del metrics["benchmark_fingerprint"]
    (wider / "metrics.json").write_text(json.dumps(metrics))
    out = compare(runs, str(runs.dir("r30s1")), str(wider), "--format", "csv", "--resamples", "500",
                  monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
    best, other = list(csv.DictReader(io.StringIO(out)))
    wide = {s.id for s in limit_samples(load_benchmark("builtin"), 600, SEED)}  # the wider --limit sample
    b = {i: v for i, v in correct(runs, "r60s2").items() if i in wide}
    assert (best["run"], best["n"], other["n"], other["shared_n"]) == ("r30s1", "300", "600", str(len(b)))
    direct = direct_test(correct(runs, "r30s1"), b, seed=SEED, resamples=500)
    assert float(other["diff_vs_best"]) == pytest.approx(direct["diff"], abs=1e-6)  # CSV: 6 digits
    assert float(other["p_value"]) == pytest.approx(direct["p"])


def test_table_rows_reproduce_the_aggregate():
    """The count rows give the same overall column as `aggregate` (split-weighted, ratio metrics)."""
    rng = np.random.default_rng(7)
    results = []
    for i in range(120):
        split = "trained" if i % 3 else "untrained"
        total_q, total_p = int(rng.integers(0, 4)), int(rng.integers(0, 3))
        flags = {k: bool(rng.random() < 0.6) for k in ("format", "platform", "tool_name", "tool_param",
                                                         "tool_value", "overall")}
        results.append(SampleResult(f"{split}:{i}", split, query_correct=int(rng.integers(0, total_q + 1)),
                                    query_total=total_q, profile_correct=int(rng.integers(0, total_p + 1)),
                                    profile_total=total_p, **flags))
    table = ptbench_table(results)
    metrics, _, _ = aggregate(results)
    for key in METRIC_KEYS:
        assert table.value(key) == pytest.approx(metrics["overall"][key])
        ids = [r.sample_id for r in results if r.split == "untrained"]
        assert table.value(key, ids) == pytest.approx(aggregate([r for r in results if r.split == "untrained"])[0]
                                                      ["overall"][key])


def test_paired_bootstrap_edge_cases():
    rows = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    mean = lambda t: t[..., 0] / t[..., 1]  # noqa: E731
    same = paired_bootstrap(rows, rows, mean, resamples=500)
    assert same.difference == 0 and same.p_value == 1 and not same.significant
    empty = paired_bootstrap(rows[:0], rows[:0], mean)
    assert empty.difference is None and empty.p_value is None and not empty.significant
    with pytest.raises(ValueError):
        paired_bootstrap(rows, rows[:2], mean)


@pytest.mark.parametrize("data", ["built", "public"])
def test_toolspectrum_rows_reproduce_its_scores(data, request):
    """On the directory the tests build, and on the public data where it is there."""
    import random

    from pertool.kinds import gold_text

    data_dir = request.getfixturevalue("toolspectrum_dir" if data == "built" else "public_toolspectrum")
    samples = (load_benchmark("toolspectrum:persona", data_dir)[:60]
               + load_benchmark("toolspectrum:environment", data_dir)[:60])
    if data == "built":  # the built directory has refusals: they are rows too
        samples += load_benchmark("toolspectrum:persona_environment", data_dir)
    pick = random.Random(1)
    outputs = {s.id: gold_text(s) if pick.random() < 0.6 else pick.choice(["", "no idea", '{"app": "X"}', "null"])
               for s in samples}
    report = score(samples, outputs, resamples=0)
    table = toolspectrum_table(samples, outputs)
    for key, value in report.splits["overall"].items():
        assert table.value(key) == (None if value is None else pytest.approx(value, abs=1e-6)), key  # JSON: 6 places
