"""PTool's ToolSpectrum mode (`environment: true`) against the scripted LLM (support/scripted_llm.py):
environments and prohibitions are generated and checked, every ToolSpectrum-mode rule rejects a
scripted answer, the pipeline writes ToolSpectrum's layout, and its gold answers score 1.0 on
every ToolSpectrum level through `pertool eval --model oracle` (refusals included)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pertool.benchmarks.toolspectrum import load_toolspectrum
from pertool.modelcalls.cache import ResponseCache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.api import stage_functions
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import run_stages
from pertool.synth.records import (
    ApiRecord,
    EnvironmentRecord,
    PolicyRecord,
    QueryRecord,
    ScenarioConfig,
    SolutionRecord,
    SynthConfig,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.stages import environment, ts_samples
from pertool.synth.stages.environment import PROFILE_FACTS
from pertool.synth.store import PipelineDir
from pertool.synth.toolspectrum import FACTORS, persona_of, quotes, refusal_problems, tripped
from pertool.synth.toolspectrum_writer import PROMPT_FILES
from support.cli import run_pertool
from support.scripted_llm import ScriptedLLM

# Every rule of the ToolSpectrum mode, listed by name: the tools stage's environment and policy
# checks, the samples' rules (plan, user agent, assistant agreement) and the judge's scores.
TOOLS_RULES = ("incomplete_environment", "invalid_platform_rule", "invalid_environment_parameter",
               "policy_not_prohibition", "policy_untestable", "policy_unknown_target")  # fmt: skip
SAMPLE_RULES = ("no_solution", "value_missing", "value_outside_examples", "value_not_in_query", "quotes_policy",
                "app_undecided", "fact_missing", "fact_allowed", "other_app_serves", "trips_policy",
                "assistant_refusal", "assistant_app", "assistant_api", "assistant_params",
                "duplicate_query")  # fmt: skip
JUDGE_RULES = ("judge:parameters", "judge:hallucination", "judge:solves")


def config() -> SynthConfig:
    return SynthConfig(scenarios=[ScenarioConfig(name="shopping", platforms=3), ScenarioConfig(name="travel",
                       platforms=3)], tree_depth=2, branching=2, users_per_layer=[2, 2], queries_per_user=16,
                       environment=True, seed=1)  # fmt: skip


def synthesize(directory: Path, url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=url, max_attempts=1))
        cache = ResponseCache(directory.parent / "cache.sqlite3")
        try:
            return await run_stages(PipelineDir(directory), config(), SynthLLM(backend, cache, Sampling()),
                                    stage_functions())  # fmt: skip
        finally:
            await backend.aclose()  # type: ignore[attr-defined]
            cache.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLM]:
    scripted = ScriptedLLM()
    try:
        yield scripted
    finally:
        scripted.stop()


@pytest.fixture(scope="module")
def pipeline(server: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("ts")
    return root / "pipe", synthesize(root / "pipe", server.url)


def test_environments_and_policies_are_generated_and_checked(pipeline: tuple[Path, dict[str, Any]]) -> None:
    directory, summary = pipeline
    d = PipelineDir(directory)
    environments = d.read("environments", EnvironmentRecord)
    assert set(environments) == {"shopping", "travel"}
    for env in environments.values():
        assert set(FACTORS) <= set(env.factors) and all(len(v) >= 2 for v in env.factors.values())
        assert env.platform_rules and all(r["value"] in env.factors[r["factor"]] for r in env.platform_rules)
        for spec in env.parameters.values():  # x-values cover every value of the factor
            assert set(spec["x-values"]) == set(env.factors[spec["x-source"].split(":", 1)[1]])
    for api in d.read("apis", ApiRecord).values():
        sources = [s.get("x-source", "") for s in api.function["parameters"]["properties"].values()]
        assert any(s.startswith("environment:") for s in sources)
    policies = d.read("policies", PolicyRecord)
    assert policies
    for policy in policies.values():
        assert policy.forbidden and policy.apis and policy.platforms
        if policy.source == "environment":
            assert set(map(str, policy.forbidden)) <= set(environments[policy.scenario].factors[policy.fact])
    for rule in TOOLS_RULES:
        assert summary["tools"]["rejected"].get(rule, 0) >= 1, rule


def test_every_ts_rule_rejects_a_scripted_answer(pipeline: tuple[Path, dict[str, Any]]) -> None:
    _, summary = pipeline
    assert TOOLS_RULES == environment.RULES and SAMPLE_RULES == ts_samples.RULES  # the lists are complete
    tools, rejected = summary["tools"]["rejected"], summary["verify"]["rejected"]
    never = [r for r in TOOLS_RULES if tools.get(r, 0) < 1] + [
        r for r in SAMPLE_RULES + JUDGE_RULES if rejected.get(r, 0) < 1]  # fmt: skip
    assert never == [], (never, tools, rejected)
    assert summary["solutions"]["rejected"] == {"invalid_output": rejected["no_solution"]}
    assert summary["verify"]["calls"] > 0  # the judge was asked
    verdicts = summary["queries"]["accepted"]
    assert summary["verify"]["accepted"] > 0.5 * verdicts, summary["verify"]  # most samples still pass


def test_kept_samples_are_the_assistants_answer_and_the_plans_gold(
    pipeline: tuple[Path, dict[str, Any]],
) -> None:
    directory, _ = pipeline
    d = PipelineDir(directory)
    world = ts_samples.worlds_of(d, config())
    users, queries = d.read("users", UserRecord), d.read("queries", QueryRecord)
    solutions, verdicts = d.read("solutions", SolutionRecord), d.read("verdicts", VerdictRecord)
    kept = [k for k, v in verdicts.items() if v.accepted]
    assert kept and all(verdicts[k].scores for k in kept)  # judged
    for key in kept:
        query = queries[key]
        gold = ts_samples.gold_of(query, world[query.scenario], users[query.user])
        assert gold is not None and solutions[key].platform == gold.platform
        for mine, theirs in zip(solutions[key].calls, gold.calls, strict=True):
            assert mine.name == theirs.name and set(mine.arguments) == set(theirs.arguments)
            assert set(mine.sources) == set(mine.arguments)  # the declared source of each
    refused = [k for k in kept if queries[k].violates_policy]
    assert refused and all(solutions[k].platform is None and not solutions[k].calls for k in refused)


def test_resume_mid_queries_and_solutions_redoes_alike_from_the_cache(
    pipeline: tuple[Path, dict[str, Any]], server: ScriptedLLM
) -> None:
    """A run cut off mid-queries (and one cut off mid-solutions) ends with the same records, all
    answers from the response cache: the plans and the rounds' `earlier` are the same again."""
    directory, _ = pipeline
    names = ("queries", "solutions", "verdicts")
    before = {name: (directory / f"{name}.jsonl").read_text().splitlines() for name in names}
    for at, cut in enumerate(("queries", "solutions")):
        copy = directory.parent / f"resume-{cut}"
        shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("toolspectrum"))
        for stage in ("queries", "solutions", "verify", "dataset")[at:]:
            (copy / f".done-{stage}").unlink()
        for name in names[at:]:
            lines = before[name][: len(before[name]) // 3] if name == cut else []
            (copy / f"{name}.jsonl").write_text("".join(f"{line}\n" for line in lines))
        server.take()
        synthesize(copy, server.url)  # the same server: the response cache is keyed by its address
        assert server.take() == {}, cut
        for name, lines in before.items():
            assert sorted((copy / f"{name}.jsonl").read_text().splitlines()) == sorted(lines), (cut, name)


def test_guard_rules_on_records(pipeline: tuple[Path, dict[str, Any]]) -> None:
    """The plan's guards on hand-changed records of a kept sample."""
    directory, _ = pipeline
    d = PipelineDir(directory)
    world = ts_samples.worlds_of(d, config())["shopping"]
    users = d.read("users", UserRecord)
    queries = {k: q for k, q in d.read("queries", QueryRecord).items() if q.scenario == "shopping"}
    solutions = d.read("solutions", SolutionRecord)
    query = next(q for q in queries.values() if q.subset == "persona" and not ts_samples.rule_failures(
        q, solutions[q.key], world, users[q.user]))  # fmt: skip
    user = users[query.user]
    assert ts_samples.rule_failures(query, None, world, user) == ["no_solution"]
    other = next(p for p in world.platforms if p != query.platform)
    moved = query.model_copy(update={"platform": other})  # the gold moves: the assistant no longer agrees
    assert ts_samples.rule_failures(moved, solutions[query.key], world, user) == ["app_undecided", "assistant_app"]
    refusal = next(q for q in queries.values() if q.violates_policy and q.key in solutions)
    missing = refusal.model_copy(update={"policy": "shopping/nope"})
    assert "fact_missing" in ts_samples.rule_failures(
        missing, solutions[refusal.key], world, users[refusal.user]
    )


def test_refusal_grounding_helpers() -> None:
    base = {
        "scenario": "s",
        "text": "Users under 18 are not allowed to buy.",
        "source": "profile",
        "apis": ["buy"],
    }
    everywhere = PolicyRecord(key="s/0", platforms=["A", "B"], fact="age", forbidden=["16", "17"], **base)
    only_a = everywhere.model_copy(update={"key": "s/1", "platforms": ["A"]})
    minor, adult = {"Age": 16, "gender": "female"}, {"age": "30"}
    assert refusal_problems(everywhere, ["A", "B"], "buy", [everywhere], minor, None) == []
    assert refusal_problems(only_a, ["A", "B"], "buy", [only_a], minor, None) == ["other_app_serves"]
    assert refusal_problems(everywhere, ["A", "B"], "buy", [everywhere], adult, None) == ["fact_allowed"]
    assert refusal_problems(everywhere, ["A", "B"], "buy", [everywhere], {"gender": "male"}, None) == [
        "fact_missing"
    ]
    assert tripped([everywhere], "s", "B", "buy", minor, None) == [everywhere]
    assert tripped([everywhere], "s", "B", "sell", minor, None) == []
    assert quotes("Buy it; users under 18 are not allowed to buy, I know.", everywhere.text)
    assert not quotes("Please buy a lamp for me.", everywhere.text)
    user = UserRecord(key="u", explicit={"age": "16", "income level": "low", "occupation": "student",
                                         "home address": "1 Elm St"}, implicit={},
                      preferences={"shop": {"orders": "A", "": "B"}})  # fmt: skip
    persona = persona_of(user, {"shop": {"A": "price level is low"}})
    assert persona["Age"] == 16 and persona["Income Level"] == "low" and persona["Profession"] == "student"
    assert persona["Home Address"] == "1 Elm St"
    assert "In shop, for orders, usually uses the app whose price level is low." in persona["Preferences"]
    assert set(PROFILE_FACTS) <= {"age", "gender", "occupation", "income level"}


def test_toolspectrum_layout_and_oracle_scores_one(
    pipeline: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, _ = pipeline
    root = directory / "toolspectrum"
    manifest = json.loads((root / "manifest.json").read_text())
    assert all(manifest["counts"][s] > 0 for s in ("persona", "environment", "persona_environment"))
    assert manifest["refusals"]["persona_environment"] > 0 and "pertool-authored" in manifest["prompts"]
    for name in PROMPT_FILES.values():
        text = (root / "prompts" / name).read_text()
        assert "<INSTRUCTION_PLACEHOLDER>" in text and "<TOOLSET_PLACEHOLDER>" in text
    full = json.loads((root / "api" / "API_description.json").read_text())
    api = next(iter(next(iter(full.values()))["APIs"].values()))
    assert set(api) == {"desc", "required_arguments", "personalized_arguments", "environmental_arguments"}
    assert any(
        k.endswith(" (str)") and "Available values: [" in v for k, v in api["environmental_arguments"].items()
    )
    persona_view = json.loads((root / "api" / "API_description_persona.json").read_text())
    assert all(
        "environmental_arguments" not in a for app in persona_view.values() for a in app["APIs"].values()
    )
    samples = load_toolspectrum("all", root)
    assert any(s.gold_platform is None for s in samples)
    assert {c for s in samples for g in s.gold_calls for c in g.sources.values()} == {
        "required",
        "personalized",
        "environmental",
    }

    proc = run_pertool("eval", "--benchmark", "toolspectrum:all", "--data-dir", root, "--model", "oracle",
                       "--out", tmp_path / "eval", "--json", "--no-progress", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    overall = json.loads(proc.stdout)["splits"]["overall"]
    for level in ("app_f1", "api_f1", "rp_f1", "pp_f1", "op_f1", "rp_param_f1", "pp_param_f1", "op_param_f1",
                  "refusal_f1", "accuracy"):  # fmt: skip
        assert overall[level] == 1.0, (level, overall)


def test_ptbench_export_says_why_refusals_are_left_out(pipeline: tuple[Path, dict[str, Any]],
                                                       tmp_path: Path) -> None:  # fmt: skip
    directory, _ = pipeline
    proc = run_pertool("data", "export", "--benchmark", f"dataset:{directory}", "--format", "ptbench",
                       "--out", tmp_path / "export", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from pertool.kinds import load_benchmark

    test = [s for s in load_benchmark(f"dataset:{directory}") if s.split != "train"]
    refusals = sum(s.gold_platform is None for s in test)
    assert refusals > 0
    if refusals:
        assert f"{refusals} refusal golds left out (they have no ptbench form)" in proc.stdout
    exported = [
        r
        for d in (tmp_path / "export").iterdir()
        if d.is_dir()
        for r in json.loads((d / "data.json").read_text())
    ]
    assert exported and all(r["answer"][0] for r in exported)  # no refusal exported with an empty platform


def test_real_templates_are_copied_when_toolspectrum_data_resolves(
        pipeline: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from pertool.synth.toolspectrum_writer import write_toolspectrum

    data = tmp_path / "ts-data"
    for sub in ("api", "data", "prompts"):
        (data / sub).mkdir(parents=True)
    for name in PROMPT_FILES.values():
        (data / "prompts" / name).write_text(f"REAL {name} <INSTRUCTION_PLACEHOLDER> <TOOLSET_PLACEHOLDER>")
    monkeypatch.setenv("PERTOOL_DATA_DIR", str(data))
    copy = tmp_path / "pipe"
    import shutil

    shutil.copytree(pipeline[0], copy, ignore=shutil.ignore_patterns("toolspectrum"))
    manifest = write_toolspectrum(PipelineDir(copy))
    assert "ToolSpectrum's own templates" in manifest["prompts"]
    assert (
        (copy / "toolspectrum" / "prompts" / "prompt_call_api.txt")
        .read_text()
        .startswith("REAL prompt_call_api.txt")
    )
