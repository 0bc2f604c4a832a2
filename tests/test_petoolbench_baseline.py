"""`baseline/history` on PEToolBench: it reads only what the model is shown, follows the
history's evidence per setting, and beats `baseline/random` on the public file."""

from __future__ import annotations

import json

import pytest

from pertool.answerers.baseline import answer_function
from pertool.answerers.petoolbench_baseline import history_answer, interaction_history
from pertool.benchmarks.petoolbench import load_petoolbench
from pertool.kinds import kind_named
from pertool.kinds.score import score
from support.petoolbench_fixture import write_json
from support.public_data import require_public_data

KIND = kind_named("petoolbench")


@pytest.fixture
def samples(tmp_path):
    return load_petoolbench("all", write_json(tmp_path / "pet"))


def _with_history(sample, items):
    """The sample with its instruction's history replaced by `items` (the prompt's own layout)."""
    text = sample.extra["instruction"]
    start = text.index("[", text.index("Interaction history is:"))
    end = text.index("\n\nAvailable tools")
    instruction = text[:start] + json.dumps(items) + text[end:]
    # a query naming the API ("Get Repos"), so the function is found from the query alone
    return sample.model_copy(update={"query": "Get the repos of octocat.",
                                     "extra": {**sample.extra, "instruction": instruction}})


def _item(tool, rating=None, instruction="earlier", params=None):
    item = {"instruction": instruction, "tool_call": {"tool_name": tool, "parameters": params or {}}}
    return item if rating is None else {**item, "rating": rating}


def test_it_reads_the_history_and_never_the_metadata(samples):
    for sample in samples:
        assert interaction_history(sample), sample.id
        blind = sample.model_copy(update={"extra": {**sample.extra, "metadata": {}}})
        assert history_answer(blind) == history_answer(sample)


def test_each_setting_follows_its_evidence(samples):
    scraper, leo = "<Data>.<Github API Scraper >.<Get Repos>", "<Data>.<Leo Github Data Scraper>.<Get Repos>"
    base = {s.split: s for s in samples if s.query.startswith("List the repositories")}
    # ratings: a rated-0 provider loses even with more calls
    ratings = _with_history(base["ratings"], [_item(scraper, 0), _item(scraper, 0), _item(leo, 1)])
    assert history_answer(ratings)[1][0].name == leo
    # chronological: the first call's provider (the non-preferred ones come first) loses
    chronological = _with_history(base["chronological"], [_item(scraper), _item(scraper), _item(leo)])
    assert history_answer(chronological)[1][0].name == leo
    # preferred: the provider with most calls wins
    preferred = _with_history(base["preferred"], [_item(leo), _item(scraper), _item(scraper)])
    assert history_answer(preferred)[1][0].name == scraper
    # the same instruction in the history gives its API and its arguments
    same = _with_history(base["preferred"], [_item(leo, instruction="Get the repos of octocat.", params={"user": "x"})])
    platform, calls = history_answer(same)
    assert (platform, calls[0].name, calls[0].arguments) == ("Leo Github Data Scraper", leo, {"user": "x"})


def test_an_instruction_without_a_history_still_answers(samples):
    sample = samples[0].model_copy(update={"extra": {**samples[0].extra, "instruction": "no history here"}})
    assert interaction_history(sample) == []
    platform, calls = history_answer(sample)
    assert calls and calls[0].name in {t.name for t in sample.tools}


def _tool_acc(samples, baseline):
    answer = answer_function(KIND, baseline)
    outputs = {}
    for s in samples:
        platform, calls = answer(s)
        outputs[s.id] = json.dumps({"tool_name": calls[0].name, "parameters": calls[0].arguments})
    report = score(samples, outputs, resamples=0)
    return {split: m["tool_acc"] for split, m in report.splits.items()}


def test_history_beats_random_on_the_public_file():
    samples = load_petoolbench("all", require_public_data("petoolbench") / "user_entries_test.json.zip")
    history, random = _tool_acc(samples, "history"), _tool_acc(samples, "random")
    for split in ("preferred", "ratings", "chronological"):
        assert history[split] > random[split] + 0.2, (split, history, random)
    # ratings and chronological show the same interactions; the rules read them alike
    assert history["ratings"] == pytest.approx(history["chronological"], abs=0.02)


def test_ablation_and_profile_views_go_through_the_kind(tmp_path):
    """`pertool ablate` hides PEToolBench's history (its `no-history` condition rewrites the
    instruction); a PTBench profile view it has not is refused, not silently ignored."""
    from support.cli import run_pertool

    data = write_json(tmp_path / "pet").parent
    cache = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    shown = run_pertool("prompt", "--benchmark", "petoolbench:preferred", "--data-dir", data, "--id",
                        "preferred:0", "--profile-view", "no-history", check=True).stdout  # fmt: skip
    assert "Interaction history is" not in shown and "Available tools" in shown
    refused = run_pertool("eval", "--benchmark", "petoolbench", "--data-dir", data, "--model", "oracle",
                          "--profile-view", "no-basic", "--out", tmp_path / "r", env=cache)  # fmt: skip
    assert refused.returncode == 2 and "does not apply to petoolbench" in refused.stderr
    assert not (tmp_path / "r").exists()
    run_pertool("ablate", "--benchmark", "petoolbench", "--data-dir", data, "--model", "baseline/history",
                "--no-progress", "--resamples", "0", "--out", tmp_path / "abl", env=cache, check=True)  # fmt: skip
    for condition, view in (("history", "all"), ("no-history", "no-history")):
        record = json.loads((tmp_path / "abl" / condition / "ablation.json").read_text())
        assert (record["condition"], record["profile_view"]) == (condition, view)
    table = (tmp_path / "abl" / "ablation.md").read_text()
    assert "history" in table and "no-history" in table


def test_reports_and_compare_render_petoolbench_runs(tmp_path):
    """Two PEToolBench runs: the HTML report shows the kind's titles and the stored parses, and
    compare ranks them by the headline (call accuracy) with a paired test."""
    from pertool.report.compare import build_leaderboard, format_markdown, load_runs
    from pertool.report.html import build_report
    from support.cli import run_pertool

    data = write_json(tmp_path / "pet").parent
    cache = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    for model in ("baseline/random", "oracle"):
        run_pertool("eval", "--benchmark", "petoolbench", "--data-dir", data, "--model", model, "--no-progress",
                    "--resamples", "50", "--out", tmp_path / model.replace("/", "-"), env=cache, check=True)  # fmt: skip
    runs = [tmp_path / "baseline-random", tmp_path / "oracle"]
    page = build_report(runs)
    for title in KIND.metric_titles.values():
        assert title in page
    assert "ratings:0" in page and "chronological:5" in page
    board = build_leaderboard(load_runs(runs, resamples=50))
    assert board.metric == "call_acc" and [r.model for r in board.runs] == ["oracle", "baseline/random"]
    assert board.runs[0].metrics["call_acc"] == 1.0 and board.tests[1] is not None
    markdown = format_markdown(board)
    assert "oracle" in markdown and KIND.metric_titles["call_acc"] in markdown
