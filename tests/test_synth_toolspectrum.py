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
    PlatformRecord,
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
                "names_app", "states_situation", "app_undecided", "fact_missing", "fact_allowed", "other_app_serves", "trips_policy",
                "assistant_refusal", "assistant_app", "assistant_api", "assistant_params",
                "duplicate_query")  # fmt: skip
JUDGE_RULES = ("judge:parameters", "judge:hallucination", "judge:solves")


def config(seed: int = 1) -> SynthConfig:
    return SynthConfig(scenarios=[ScenarioConfig(name="shopping", platforms=3), ScenarioConfig(name="travel",
                       platforms=3)], tree_depth=2, branching=2, users_per_layer=[2, 2], queries_per_user=16,
                       environment=True, seed=seed)  # fmt: skip


def synthesize(directory: Path, url: str, cfg: SynthConfig | None = None,
               only: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=url, max_attempts=1))
        cache = ResponseCache(directory.parent / "cache.sqlite3")
        try:
            return await run_stages(PipelineDir(directory), cfg or config(), SynthLLM(backend, cache, Sampling()),
                                    stage_functions(), only=only)  # fmt: skip
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
        assert (policy.forbidden or policy.threshold) and policy.apis and policy.platforms
        if policy.source == "environment":
            assert set(map(str, policy.forbidden)) <= set(environments[policy.scenario].factors[policy.fact])
            assert policy.threshold is None
    # a limit stated in words ("under 16") is read as a threshold, as one given as such
    limits = {(p.text.split(" are ")[0], p.threshold.op, p.threshold.value) for p in policies.values() if p.threshold}
    assert limits >= {("Users under 16", "<", 16.0), ("Users under 18", "<", 18.0)}, limits
    for rule in TOOLS_RULES:
        assert summary["tools"]["rejected"].get(rule, 0) >= 1, rule


def test_every_ts_rule_rejects_a_scripted_answer(pipeline: tuple[Path, dict[str, Any]]) -> None:
    _, summary = pipeline
    assert TOOLS_RULES == environment.RULES and SAMPLE_RULES == ts_samples.RULES  # the lists are complete
    assert_every_rule_fires(summary)


def assert_every_rule_fires(summary: dict[str, Any]) -> None:
    tools, rejected = summary["tools"]["rejected"], summary["verify"]["rejected"]
    never = [r for r in TOOLS_RULES if tools.get(r, 0) < 1] + [
        r for r in SAMPLE_RULES + JUDGE_RULES if rejected.get(r, 0) < 1]  # fmt: skip
    assert never == [], (never, tools, rejected)
    # the profile-fact policies no user can trip (membership, "under 16"), found once users exist
    assert summary["queries"]["rejected"].get("policy_untestable", 0) >= 2, summary["queries"]
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
    """The synthesized data in ToolSpectrum's layout (whose refusals do not depend on which
    samples the pipeline's own dataset happened to draw for its test splits)."""
    root = pipeline[0] / "toolspectrum"
    refusals = sum(json.loads((root / "manifest.json").read_text())["refusals"].values())
    assert refusals > 0
    proc = run_pertool("data", "export", "--benchmark", "toolspectrum:all", "--format", "ptbench",
                       "--out", tmp_path / "export", env={"PERTOOL_DATA_DIR": str(root)}, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
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


def test_every_ts_rule_fires_for_another_seed(server: ScriptedLLM, tmp_path: Path) -> None:
    """The faults sit at fixed slots of the query keys (with a plan of the kind each needs) and
    the probes are built from, and checked against, the records the run has: no seed misses a
    rule (seeds 0-4 checked by hand; this is one other than the module's)."""
    assert_every_rule_fires(synthesize(tmp_path / "pipe", server.url, config(seed=3)))


def test_fault_slots_do_not_collide() -> None:
    from pertool.synth.stages.ts_assistant import SLOTS

    tables = (set(ts_samples.PROBES), set(ts_samples.QUERY_SLOTS), set(SLOTS))
    assert sum(map(len, tables)) == len(set().union(*tables))
    assert set(ts_samples.QUERY_SLOTS.values()) <= set(SAMPLE_RULES)
    # the repeated request and the one it repeats are of one subset
    repeat = next(s for s, f in ts_samples.QUERY_SLOTS.items() if f == "duplicate_query")
    assert ts_samples.SHAPES[repeat] == ts_samples.SHAPES[repeat - 1]


# -- the tools stage on hostile answers ---------------------------------------------------------


def small(*names: str) -> SynthConfig:
    return SynthConfig(scenarios=[ScenarioConfig(name=n, platforms=3) for n in names], tree_depth=2, branching=2,
                       users_per_layer=[2, 2], queries_per_user=2, environment=True, seed=1)  # fmt: skip


def tools_only(tmp_path: Path, override: Any, cfg: SynthConfig) -> tuple[PipelineDir, dict[str, Any]]:
    hostile = ScriptedLLM(override=override)
    try:
        summary = synthesize(tmp_path / "pipe", hostile.url, cfg, only=["tools"])
    finally:
        hostile.stop()
    return PipelineDir(tmp_path / "pipe"), summary


def test_environment_parameter_values_must_be_scalars_of_their_type(tmp_path: Path) -> None:
    """A setting whose values are objects (it crashed the stage) or "yes"/"no" for a boolean (it
    reached the golds as darkMode: "yes") is dropped and counted, like one missing a value."""

    def override(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        for param in answer.get("parameters", []) if task == "tools.environment" else []:
            if param["name"] == "performanceMode":
                param["values"] = {k: {"mode": v} for k, v in param["values"].items()}
            if param["name"] == "darkMode":
                param["values"] = {k: "yes" if v else "no" for k, v in param["values"].items()}
        return answer

    d, summary = tools_only(tmp_path, override, small("shopping"))
    env = d.read("environments", EnvironmentRecord)["shopping"]
    assert set(env.parameters) == {"resourceLoading", "preferredOrientation"}
    # the two broken ones and the scripted one that misses two situations
    assert summary["tools"]["rejected"]["invalid_environment_parameter"] == 3
    kinds = {"string": str, "boolean": bool}
    for api in d.read("apis", ApiRecord).values():
        for spec in api.function["parameters"]["properties"].values():
            if spec.get("x-source", "").startswith("environment:"):
                assert all(isinstance(v, kinds[spec["type"]]) for v in spec["x-values"].values()), spec


def test_a_platform_name_another_scenario_has_is_rejected_early(tmp_path: Path) -> None:
    """ToolSpectrum's layout keys apps by name: a name another scenario already has is rejected
    in the tools stage (it used to fail only when the dataset was written, on every re-run)."""
    from pertool.synth import scripted
    from pertool.synth.toolspectrum_writer import apps_of

    taken = scripted.answer("tools.platforms", {"scenario": "shopping", "count": 3, "environment": True})
    names = [p["name"] for p in taken["platforms"] if p["policy"]]

    def override(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task == "tools.platforms" and inputs["scenario"] == "travel":
            right = [p for p in answer["platforms"] if p["policy"]]
            right[0]["name"] = names[-1].upper()  # case aside, shopping's
        return answer

    d, summary = tools_only(tmp_path, override, small("shopping", "travel"))
    platforms = d.read("platforms", PlatformRecord).values()
    assert len({p.name.casefold() for p in platforms}) == len(platforms) >= 5
    assert summary["tools"]["rejected"]["duplicate_platform"] >= 1
    apps, _ = apps_of(d)  # the writer's keying holds
    assert len(apps) == len(platforms)


def test_policy_limits_in_words_thresholds_and_malformed_ones(tmp_path: Path) -> None:
    """`forbidden: ["under 18"]` is an age limit (a threshold), as `threshold` is; an object in
    `forbidden` or a threshold with an unknown operator is untestable."""

    def override(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task != "tools.policies":
            return answer
        first = {**answer["policies"][0], "forbidden": ["under 18"]}
        first.pop("threshold")
        broken = [{**first, "forbidden": [{"lt": 18}]}, {**first, "forbidden": [], "threshold": {"op": "lt", "value": 1}}]
        return {"policies": [first, *broken, *answer["policies"][1:]]}

    d, summary = tools_only(tmp_path, override, small("shopping"))
    policies = sorted(d.read("policies", PolicyRecord).values(), key=lambda p: p.key)
    age = policies[0]
    assert age.text.startswith("Users under 18") and age.forbidden == [] and age.threshold is not None
    assert (age.threshold.op, age.threshold.value) == ("<", 18.0)
    from pertool.synth.toolspectrum import forbids

    assert [forbids(age, v) for v in (16, "17", "17 years old", 18, "30", "unknown")] == [True] * 3 + [False] * 3
    # the two, and the scripted prohibition on a weather the scenario never has
    assert summary["tools"]["rejected"]["policy_untestable"] == 3


def test_resume_mid_policies_writes_the_missing_ones(server: ScriptedLLM, tmp_path: Path) -> None:
    """A run killed after the first policy of a scenario: the resumed run writes the others
    (it used to skip the scenario as soon as one policy existed) and counts as an uncut run."""
    import yaml

    cfg = small("shopping")
    reference = synthesize(tmp_path / "ref" / "pipe", server.url, cfg, only=["tools"])
    ref = tmp_path / "ref" / "pipe"
    policies = (ref / "policies.jsonl").read_text().splitlines()
    assert len(policies) >= 3
    writes = sum(len(f.read_text().splitlines()) for f in ref.glob("*.jsonl"))
    steps = ref / "policy_answers.jsonl"
    cut = writes - len(policies) - (len(steps.read_text().splitlines()) if steps.exists() else 0) + 1
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    out = tmp_path / "cut" / "pipe"
    proc = run_pertool("synth", "run", "--config", tmp_path / "cfg.yaml", "--model", "openai-compatible/scripted",
                       "--base-url", server.url, "--out", out, "--no-progress", "--no-cache",
                       env={"PERTOOL_SYNTH_CRASH_AFTER": f"tools:{cut}"}, timeout=120)  # fmt: skip
    assert proc.returncode == 137, proc.stderr
    assert len((out / "policies.jsonl").read_text().splitlines()) == 1
    resumed = synthesize(out, server.url, cfg, only=["tools"])
    assert sorted((out / "policies.jsonl").read_text().splitlines()) == sorted(policies)
    for key in ("accepted", "rejected"):
        assert resumed["tools"][key] == reference["tools"][key], key


def test_queries_name_no_app_and_state_no_deciding_fact(pipeline: tuple[Path, dict[str, Any]]) -> None:
    """The rules names_app and states_situation on hand-changed requests of kept samples, and
    the user agent's persona names no app (so a request has no app name to copy)."""
    directory, _ = pipeline
    d = PipelineDir(directory)
    world = ts_samples.worlds_of(d, config())["shopping"]
    users, solutions = d.read("users", UserRecord), d.read("solutions", SolutionRecord)
    kept = [q for q in d.read("queries", QueryRecord).values() if q.scenario == "shopping"
            and not ts_samples.rule_failures(q, solutions.get(q.key), world, users[q.user])]  # fmt: skip
    ruled = next(q for q in kept if q.subset == "environment")
    rule = next(r for r in world.environment.platform_rules if r["platform"] == ruled.platform)  # type: ignore[union-attr]
    told = ruled.model_copy(update={"query": f"{ruled.query} Outside: {rule['value'].lower()}."})
    assert ts_samples.rule_failures(told, solutions[ruled.key], world, users[ruled.user]) == ["states_situation"]
    named = ruled.model_copy(update={"query": f"{ruled.query} On {ruled.platform}, please."})
    assert ts_samples.rule_failures(named, solutions[ruled.key], world, users[ruled.user]) == ["names_app"]
    refusals = [q for q in kept if q.violates_policy]
    assert refusals
    for refusal in refusals:  # "I am 16." / "It is Offline." gives the refusal away
        fact, value, profile = ts_samples.deciding_facts(refusal, world, users[refusal.user])[-1]  # the policy's
        said = f"{refusal.query} My {fact} is {value}." if profile else f"{refusal.query} It is {value}."
        told = refusal.model_copy(update={"query": said})
        assert ts_samples.rule_failures(told, solutions[refusal.key], world, users[refusal.user]) == [
            "states_situation"], (refusal.policy, said)  # fmt: skip
    for user in users.values():
        persona = json.dumps(persona_of(user, apps=False))
        assert not any(p in persona for w in ts_samples.worlds_of(d, config()).values() for p in w.platforms)
