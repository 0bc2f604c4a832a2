"""Reports, leaderboards and tables of PEToolBench runs: the comparison's error counts of runs of
one split, notes on runs that are not comparable, `hallucinated` (lower is better) shown and
ranked the right way round, answers in PEToolBench's own format, and table headers that hold a
`|`. Runs are written by `finish` from outputs the test chooses (the fixture's entries)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pertool.cli.main import main
from pertool.kinds import gold_text, kind_named, load_benchmark
from pertool.report.ablation import AblationRow
from pertool.report.ablation import format_markdown as ablation_markdown
from pertool.report.compare import build_leaderboard, format_latex, format_markdown, load_runs
from pertool.report.html import build_report
from pertool.report.rundata import load_run
from pertool.runner.run import EvalConfig, finish, select_samples
from pertool.runner.rundir import RunDir
from pertool.testing.browser import ReportBrowser
from support.petoolbench_fixture import write_json

WRONG = '{"tool_name": "<Nowhere>.<Nobody>.<nothing>", "parameters": {}}'  # no candidate: hallucinated


def write_run(path: Path, data: Path, model: str, *, benchmark: str = "petoolbench:ratings",
              compat: str | None = None, wrong: int = 0) -> Path:  # fmt: skip
    """A run whose first `wrong` samples name no candidate and the rest answer the gold."""
    config = EvalConfig(benchmark=benchmark, model=model, data_dir=str(data), compat=compat, resamples=50)
    run = RunDir.create(path, config.model_dump(mode="json"))
    samples = select_samples(config)
    finished = {}
    with run.appender("predictions.jsonl") as out:
        for i, sample in enumerate(samples):
            finished[sample.id] = {"id": sample.id, "output": WRONG if i < wrong else gold_text(sample)}
            out.write(json.dumps(finished[sample.id]) + "\n")
    finish(run, config, samples, finished)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pet-report")
    data = write_json(root / "data").parent
    return {"bad": write_run(root / "bad", data, "bad-model", wrong=2),
            "good": write_run(root / "good", data, "good-model"),
            "compat": write_run(root / "compat", data, "compat-model", compat="petoolbench-public"),
            "all": write_run(root / "all", data, "all-model", benchmark="petoolbench")}  # fmt: skip


def comparison(html: str) -> str:
    return html[html.index('<section id="comparison">') : html.index("</section>", html.index('id="comparison"'))]


def count_rows(section: str) -> dict[str, list[int]]:
    table = section[section.index('<table class="counts">') :]
    table = table[: table.index("</table>")]
    return {m.group(1): [int(x) for x in re.findall(r"<td>(\d+)</td>", m.group(2))]
            for m in re.finditer(r"<tr><th>([^<]*)</th>((?:<td>\d+</td>)+)</tr>", table)}  # fmt: skip


def test_errors_by_run_counts_a_run_of_one_split(runs: dict[str, Path]):
    section = comparison(build_report([runs["bad"], runs["good"]]))
    rows = count_rows(section)
    bad = load_run(runs["bad"])
    assert list(bad.category_counts) == ["ratings"]  # one split, no overall row
    assert rows["bad-model"] == [bad.category_counts["ratings"][k] for k in bad.categories]
    assert rows["bad-model"][list(bad.categories).index("hallucinated_tool")] == 2
    assert sum(rows["good-model"]) == 0


def test_runs_of_different_benchmarks_or_scoring_modes_are_noted_and_not_ranked(runs: dict[str, Path]):
    same = comparison(build_report([runs["bad"], runs["good"]]))
    assert "not comparable" not in same and 'class="best"' in same
    for other, named in (("all", "petoolbench:ratings, petoolbench"), ("compat", "default, petoolbench-public")):
        section = comparison(build_report([runs["bad"], runs[other]]))
        assert "not comparable" in section and named in section
        assert 'class="best"' not in section


def test_lower_is_better_is_bolded_and_ranked_lowest_first(runs: dict[str, Path]):
    section = comparison(build_report([runs["bad"], runs["good"]]))
    halluc = list(kind_named("petoolbench").metric_tables[0]).index("hallucinated")
    good_row = section[section.index("<th>good-model") :].split("</tr>")[0]
    assert 'class="best"' in good_row.split("<td")[1 + halluc]  # 0.0 hallucinated is the best
    board = build_leaderboard(load_runs([runs["bad"], runs["good"]], resamples=50), metric="hallucinated")
    assert [r.model for r in board.runs] == ["good-model", "bad-model"]


def payload(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="pertool-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def test_browser_data_shows_petoolbench_answers_in_its_format(runs: dict[str, Path]):
    run = payload(build_report([runs["bad"]]))["runs"][0]
    assert ["hallucinated", "Halluc", 1] in run["checks"] and ["call_acc", "Call", 0] in run["checks"]
    assert run["pt"] == "provider"
    for sample in run["samples"]:
        for text in (sample["y"], sample.get("x", "{}")):
            assert set(json.loads(text)) <= {"tool_name", "parameters"}, text  # JSON, not `P:[f(...)]`
    wrong = run["samples"][0]
    assert json.loads(wrong["x"]) == json.loads(WRONG)


def test_ptbench_browser_data_is_unchanged(tmp_path: Path):
    from pertool.kinds import kind_named

    kind = kind_named("ptbench")
    sample = load_benchmark("example")[0]
    assert kind.shown_gold(sample).startswith(f"{sample.gold_platform}:[")
    assert kind.lower_better == frozenset() and kind.platform_title == "platform"


def test_table_headers_escape_a_bar(runs: dict[str, Path], capsys):
    board = build_leaderboard(load_runs([runs["bad"], runs["good"]], resamples=50))
    md = format_markdown(board).splitlines()
    cells = [len(re.split(r"(?<!\\)\|", line)) for line in md[:3]]
    assert cells[0] == cells[1] == cells[2], md[:3]
    assert "Param/Tool" in md[0]
    latex = format_latex(board)
    assert "|" not in latex.replace(r"\textbar{}", "")
    report = load_run(runs["good"]).report
    ablation = ablation_markdown([AblationRow("history", runs["good"], report)]).splitlines()
    assert len(re.split(r"(?<!\\)\|", ablation[0])) == len(re.split(r"(?<!\\)\|", ablation[1]))


def test_compare_names_pertools_rules_default(runs: dict[str, Path], capsys):
    assert main(["compare", str(runs["bad"]), str(runs["compat"])]) == 2
    err = capsys.readouterr().err
    assert "default" in err and "None" not in err


@pytest.mark.timeout(120)
def test_the_browser_marks_a_hallucination_and_shows_no_platform_row(browser: ReportBrowser, runs: dict[str, Path],
                                                                     tmp_path: Path):  # fmt: skip
    page = tmp_path / "report.html"
    page.write_text(build_report([runs["bad"]]))
    ids = [s.id for s in load_run(runs["bad"]).samples]
    shown = {}
    for sample_id in (ids[0], ids[-1]):  # hallucinated, then right
        browser.open(page.as_uri() + f"#run=0&open={sample_id}")
        shown[sample_id] = browser.evaluate("""({checks: Array.from(document.querySelectorAll(
            '#browser-0 .detail .checks span')).map((s) => [s.className, s.textContent]),
            rows: Array.from(document.querySelectorAll('#browser-0 .detail table.diff td:first-child'))
            .map((td) => td.textContent)})""")
    assert ["no", "\u2717 Halluc"] in shown[ids[0]]["checks"] and ["no", "\u2717 Call"] in shown[ids[0]]["checks"]
    assert ["yes", "\u2713 Halluc"] in shown[ids[-1]]["checks"] and ["yes", "\u2713 Call"] in shown[ids[-1]]["checks"]
    assert "provider" in shown[ids[0]]["rows"] and "platform" not in shown[ids[0]]["rows"]
