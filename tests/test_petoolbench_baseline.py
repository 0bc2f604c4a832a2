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
