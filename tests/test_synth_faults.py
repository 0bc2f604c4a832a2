"""The scripted LLM's planned wrong answers (pertool.synth.faults) in an offline run of 10 users
through every stage: each rejection rule of the back stages (histories, queries, verify with its
judge, dataset) rejects at least one answer, most samples are still accepted, and `pertool synth
stats` reports the issue's figures on the dataset."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pertool.modelcalls.cache import ResponseCache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.api import stage_functions
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import run_stages
from pertool.synth.records import HistoryRecord, ScenarioConfig, SynthConfig, VerdictRecord
from pertool.synth.stages.verify import RULES, SCORES
from pertool.synth.store import PipelineDir
from support.cli import run_pertool
from support.scripted_llm import ScriptedLLM

CONFIG = SynthConfig(
    scenarios=[ScenarioConfig(name="shopping", description="buying everyday goods online", platforms=3),
               ScenarioConfig(name="travel", description="booking trains, flights and hotels", platforms=3)],
    tree_depth=2, branching=2, users_per_layer=[2, 5], history_per_scenario=4, queries_per_user=8,
    untrained_users=2, chain_share=0.2, need_share=0.2,
)  # fmt: skip
# Every reason each back stage rejects for, with no exception: each one must fire in the run below,
# and the stages must reject for no other.
REASONS = {
    "histories": {"unknown_platform", "unknown_condition", "empty_action", "states_preference",
                  "preference_not_revealed"},
    "queries": {"duplicate_query", "missing_value", "invalid_value", "placeholder_value", "value_not_in_query",
                "states_profile", "need_not_stated", "names_platform", "no_history"},
    "verify": set(RULES) | {f"judge:{score}" for score in SCORES},
    "dataset": {"duplicate_across_splits"},
}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("faults") / "run"
    server = ScriptedLLM()

    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=server.url))
        cache = ResponseCache(out.parent / "cache.sqlite3")
        try:
            llm = SynthLLM(backend, cache, Sampling(), concurrency=8)
            return await run_stages(PipelineDir(out), CONFIG, llm, stage_functions())
        finally:
            await backend.aclose()
            cache.close()

    try:
        summary = asyncio.run(go())
    finally:
        server.stop()
    return out, summary


def test_every_rejection_rule_rejects_a_scripted_answer(pipeline):
    out, summary = pipeline
    verdicts = PipelineDir(out).read("verdicts", VerdictRecord)
    fired = Counter(reason.split("=")[0] for v in verdicts.values() for reason in v.reasons)
    assert dict(fired) == summary["verify"]["rejected"]  # verdicts.jsonl and summary.json agree
    missing = {stage: sorted(reasons - set(summary[stage]["rejected"])) for stage, reasons in REASONS.items()}
    assert not any(missing.values()), missing
    unlisted = {stage: sorted(set(summary[stage]["rejected"]) - reasons) for stage, reasons in REASONS.items()}
    assert not any(unlisted.values()), unlisted
    for verdict in verdicts.values():  # a judged sample carries its three scores
        assert verdict.accepted == (not verdict.reasons)
        if any(r.startswith("judge:") for r in verdict.reasons):
            assert set(verdict.scores) == set(SCORES)
    accepted = sum(v.accepted for v in verdicts.values())
    assert accepted > 0.6 * len(verdicts) and summary["dataset"]["accepted"] > 0.5 * 80


def test_stats_give_the_issue_figures(pipeline):
    out, summary = pipeline
    proc = run_pertool("synth", "stats", "--out", out, "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert sum(stats["samples"].values()) == summary["dataset"]["accepted"]
    assert set(stats["samples"]) == {"train", "trained", "untrained"}
    majority = stats["gold_is_history_majority"]
    assert majority["without_need"]["of"] > 20 and majority["without_need"]["share"] < 0.8
    assert majority["with_need"]["of"] >= 1 and stats["need_rule"]["of"] == majority["with_need"]["of"]
    assert stats["placeholder_values"] == 0
    assert stats["two_call_share"] >= 0.10
    assert stats["duplicate_queries"] == {"within_user": 0, "train_test": 0}
    assert stats["refusals"] == 0
    text = run_pertool("synth", "stats", "--out", out, timeout=60)
    assert text.returncode == 0 and "gold platform = history-majority platform:" in text.stdout
    assert "two-call samples:" in text.stdout and "duplicate queries: 0 within a user" in text.stdout


def test_stats_of_a_pipeline_without_a_dataset_is_a_clear_error(tmp_path):
    proc = run_pertool("synth", "stats", "--out", tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("pertool: error:") and "no dataset" in proc.stderr


def test_stats_report_the_majority_within_the_condition(pipeline):
    """The shortcut the data allows by design (a preference per context, learnable from that
    context's history) is reported on its own line; the history actions do not label their
    condition."""
    out, _ = pipeline
    stats = json.loads(run_pertool("synth", "stats", "--out", out, "--json", timeout=60).stdout)
    within, overall = stats["gold_is_condition_majority"], stats["gold_is_history_majority"]
    assert within["without_need"]["of"] == overall["without_need"]["of"] > 20
    assert within["without_need"]["share"] == 1.0 > overall["without_need"]["share"]
    assert within["with_need"]["of"] == overall["with_need"]["of"] and within["with_need"]["share"] < 1.0
    text = run_pertool("synth", "stats", "--out", out, timeout=60).stdout
    line = "gold platform = history-majority within the query's condition: "
    assert line in text and "  without a stated need: 100.0%" in text.split(line, 1)[1]
    histories = PipelineDir(out).read("histories", HistoryRecord).values()
    assert histories and not any(h.condition.casefold() in h.action.casefold() for h in histories)


def test_stats_count_placeholders_by_the_queries_rule(pipeline, tmp_path):
    """A gold value like "destination_3" or "Item 3" is counted, by the rule the queries stage
    rejects it with."""
    out, _ = pipeline
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    lines = (copy / "test.jsonl").read_text().splitlines()
    for n, line in enumerate(lines):
        sample = json.loads(line)
        call = sample["gold_calls"][0] if sample["gold_calls"] else {"arguments": {}, "sources": {}}
        stated = [p for p, v in call["arguments"].items() if call["sources"].get(p) == "query" and isinstance(v[0], str)]
        if stated:
            call["arguments"][stated[0]] = [f"{stated[0]}_3"]
            lines[n] = json.dumps(sample)
            break
    else:
        raise AssertionError("no sample with a query-stated string value")
    (copy / "test.jsonl").write_text("\n".join(lines) + "\n")
    proc = run_pertool("synth", "stats", "--out", copy, "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["placeholder_values"] == 1
