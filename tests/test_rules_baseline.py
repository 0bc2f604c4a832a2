"""`baseline/rules` (`pertool.answerers.rules_baseline`): on the ToolSpectrum directory the tests build,
and on the public ToolSpectrum data where it is there."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pertool.answerers import create_model
from pertool.answerers.rules_baseline import RulesBackend
from pertool.answerers.rules_policy import parse_policy, policy_violations
from pertool.benchmarks.toolspectrum import load_toolspectrum
from pertool.errors import SpecError
from pertool.kinds import load_benchmark
from pertool.kinds.score import score
from pertool.models.registry import ModelOptions
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.runner.task import Task
from pertool.schema import Call, Sample
from pertool.values import accepts
from support.cli import run_pertool

OP_PARAMS = ("resourceLoading", "mediaQuality", "preferredOrientation", "performanceMode", "enableCaptions",
             "enableVoiceOver", "increaseColorContrast")  # fmt: skip


def answers(backend, samples: list[Sample]) -> dict[str, str]:
    task = Task()

    async def run() -> dict[str, str]:
        out = {s.id: (await backend.complete(task.request(s))).text for s in samples}
        await backend.aclose()
        return out

    return asyncio.run(run())


@pytest.fixture(scope="module")
def environment(toolspectrum_dir: Path) -> list[Sample]:
    return load_toolspectrum("environment", toolspectrum_dir)


@pytest.fixture(scope="module")
def env_answers(environment) -> dict[str, str]:
    backend = create_model("baseline/rules", ModelOptions(), environment)
    assert backend.identity()["model"] == "rules"
    return answers(backend, environment)


def test_environment_scores(environment, env_answers):
    metrics = score(environment, env_answers, resamples=0).splits["environment"]
    assert metrics["format"] == 1.0
    assert metrics["op_param_f1"] >= 0.8  # measured 0.875 (the fixture's noise caps it)
    assert metrics["app_f1"] >= 0.8  # measured 0.94; a random app among 7 gets about 0.14
    assert metrics["api_f1"] >= 0.8  # measured 0.94
    assert metrics["rp_param_f1"] >= 0.85  # measured 0.96: required values are read from the instruction


def test_persona_scores(toolspectrum_dir):
    persona = load_toolspectrum("persona", toolspectrum_dir)
    metrics = score(persona, answers(RulesBackend(persona), persona), resamples=0).splits["persona"]
    assert metrics["format"] == 1.0 and metrics["app_f1"] >= 0.8  # measured 0.93
    assert metrics["pp_param_f1"] >= 0.6  # measured 0.72: personalized values follow the persona
    assert metrics["rp_param_f1"] >= 0.85  # measured 0.98


def test_the_named_environmental_params_follow_their_fields(environment, env_answers):
    right, carried = _followed(environment, env_answers)
    assert right["resourceLoading"] / carried["resourceLoading"] >= 0.95
    assert right["performanceMode"] / carried["performanceMode"] >= 0.95
    assert right["enableVoiceOver"] / carried["enableVoiceOver"] >= 0.98


def _followed(samples: list[Sample], got: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    right = dict.fromkeys(OP_PARAMS, 0)
    carried = dict.fromkeys(OP_PARAMS, 0)
    for sample in samples:
        arguments = parse_toolspectrum(got[sample.id]).calls[0].arguments
        gold = sample.gold_calls[0].arguments
        for param in OP_PARAMS:
            if param in gold:
                carried[param] += 1
                right[param] += param in arguments and accepts(gold[param], arguments[param])
    return right, carried


def test_a_sample_is_answered_by_rules_that_never_saw_it_nor_its_context(environment):
    from pertool.learners import context_key

    backend = RulesBackend(environment)
    for sample in environment:
        rules = backend.rules_for(sample)
        assert sample.id not in rules.trained_on
        assert all(context_key(s) != context_key(sample) for s in environment if s.id in rules.trained_on)


def _with_gold(samples: list[Sample], ids: set[str], param: str, value: object) -> list[Sample]:
    out = []
    for sample in samples:
        if sample.id in ids:
            sample = sample.model_copy(deep=True)
            sample.gold_calls[0].arguments[param] = [value]
            sample.gold_platform = "Tmall"
        out.append(sample)
    return out


def test_altering_a_samples_own_gold_does_not_change_its_answer(environment):
    # a sample whose gold says "online", of an API whose every sample carries resourceLoading
    # (so that moving the others to another app, below, leaves no sample of it without one)
    def always_carried(s: Sample) -> bool:
        return all("resourceLoading" in o.gold_calls[0].arguments for o in environment
                   if o.gold_calls[0].name == s.gold_calls[0].name)  # fmt: skip

    at, target = next((i, s) for i, s in enumerate(environment)
                      if s.gold_calls[0].arguments.get("resourceLoading") == ["online"] and always_carried(s))  # fmt: skip
    before = RulesBackend(environment).answer(target)
    assert json.loads(before)["params"]["resourceLoading"] == "online"
    altered = _with_gold(environment, {target.id}, "resourceLoading", "offline")
    assert RulesBackend(altered).answer(altered[at]) == before
    # ... while the gold of the other samples does steer it (the check above is not vacuous)
    others = {s.id for s in environment if s.id != target.id and "resourceLoading" in s.gold_calls[0].arguments}
    flipped = _with_gold(environment, others, "resourceLoading", "offline")
    assert json.loads(RulesBackend(flipped).answer(flipped[at]))["params"]["resourceLoading"] == "offline"


def _persona_sample(base: Sample, sample_id: str, query: str, age: int) -> Sample:
    profile = base.profile.model_copy(update={"basic_features": {**base.profile.basic_features, "Age": age}})
    return base.model_copy(deep=True, update={"id": sample_id, "query": query, "profile": profile})


def test_refuses_when_the_chosen_apps_policy_is_violated(toolspectrum_dir):
    persona = load_toolspectrum("persona", toolspectrum_dir)
    base = next(s for s in persona if s.gold_platform == "Tmall" and s.gold_calls[0].name == "buyProduct")
    query = ("I want to buy a laptop priced at 20,000 RMB using Alipay and have it shipped to Beijing, "
             "Chaoyang District, Jianwai Street 5.")  # fmt: skip
    minor = _persona_sample(base, "persona:minor", query, 16)
    adult = _persona_sample(base, "persona:adult", query, 30)
    got = answers(RulesBackend([*persona, minor, adult]), [minor, adult])
    refused = parse_toolspectrum(got[minor.id])
    assert refused.parse_error is None and refused.refusal, got[minor.id]
    assert "age 16" in json.loads(got[minor.id])["explanation"]
    answered = parse_toolspectrum(got[adult.id])
    assert not answered.refusal and answered.calls[0].name == "buyProduct", got[adult.id]


def test_parses_thresholds_from_policy_texts():
    rules = parse_policy(["A monthly investment limit (<3k) is set for low-income users, while high-income "
                          "users can set their investment amount freely.",
                          "Users under the age of 18 are not allowed to make any investments."])  # fmt: skip
    assert rules[0].low_income and rules[0].amount_over == 3000 and rules[0].purchase_only
    assert rules[1].max_age == 18 and rules[1].everything
    keep = parse_policy(["For elderly users (60 years and above), the system will issue a warning when engaging "
                         "in high-intensity exercise.",
                         "For users with higher body weight (e.g., BMI greater than 30), the system will limit "
                         "high-intensity exercise."])  # fmt: skip
    assert keep[0].min_age == 60 and keep[1].min_bmi == 30 and "intens" in keep[1].topics
    shop = parse_policy("Users under the age of 18 are not allowed to independently purchase items exceeding "
                        "10,000 RMB. Certain high-value products (e.g., luxury goods, electronics, etc.) are not "
                        "permitted for purchase by users under 18.")  # fmt: skip
    assert shop[0].amount_over == 10000 and "luxury" in shop[1].topics
    assert parse_policy("Be nice to each other.") == []


def test_policy_checks_read_the_persona_and_the_instruction(toolspectrum_dir):
    base = load_toolspectrum("persona", toolspectrum_dir)[0]
    bank = ["A monthly investment limit (<3k) is set for low-income users."]

    def who(query: str, **persona: object) -> Sample:
        profile = base.profile.model_copy(update={"basic_features": {**base.profile.basic_features, **persona}})
        return base.model_copy(update={"query": query, "profile": profile})

    buy = Call(name="buyFund", arguments={"amount": 5000})
    assert policy_violations(bank, who("Invest 5000 in a bond fund.", **{"Income Level": "<3k"}), buy)
    assert not policy_violations(bank, who("Invest 5000 in a bond fund.", **{"Income Level": ">50k"}), buy)
    small = Call(name="buyFund", arguments={"amount": 500})
    assert not policy_violations(bank, who("Invest 500 in a bond fund.", **{"Income Level": "<3k"}), small)
    heavy = ["For users with higher body weight (e.g., exceeding BMI standards), the system will restrict "
             "purchasing high-sugar, high-fat foods (e.g., red meat, candy, fried foods, etc.)."]  # fmt: skip
    candy = Call(name="buyProduct", arguments={})
    obese = {"Height (cm)": 170, "Weight (kg)": 100}
    assert policy_violations(heavy, who("Buy three bags of candy.", **obese), candy)
    assert not policy_violations(heavy, who("Buy three bags of candy.", **{"Height (cm)": 170, "Weight (kg)": 60}),
                                 candy)  # fmt: skip
    assert not policy_violations(heavy, who("Buy three bags of rice.", **obese), candy)


def test_is_for_toolspectrum_only():
    with pytest.raises(SpecError, match="ToolSpectrum"):
        create_model("baseline/rules", ModelOptions(), load_benchmark("example"))
    with pytest.raises(SpecError, match="baseline/rules"):
        create_model("baseline/nonsense", ModelOptions(), load_benchmark("example"))


def test_train_spec_from_the_command_line(tmp_path, toolspectrum_dir):
    proc = run_pertool("eval", "--benchmark", "toolspectrum:environment", "--data-dir", toolspectrum_dir,
                       "--model", "baseline/rules", "--train", "toolspectrum:persona", "--limit", "20",
                       "--out", tmp_path / "run", "--json", "--no-progress", "--resamples", "0",
                       env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["options"]["train"] == "toolspectrum:persona"
    assert json.loads(proc.stdout)["counts"]["environment"] == 20


def test_refuses_by_policy_on_the_persona_environment_subset(toolspectrum_dir):
    """Trained on the persona subset (as `--train toolspectrum:persona`): the minors' laptops and
    the low-income investments are refused, the other requests answered."""
    pe = load_toolspectrum("persona_environment", toolspectrum_dir)
    backend = RulesBackend(pe, train=load_toolspectrum("persona", toolspectrum_dir))
    metrics = score(pe, answers(backend, pe), resamples=0).splits["persona_environment"]
    assert metrics["refusal_recall"] >= 0.9 and metrics["refusal_precision"] >= 0.9  # measured 1.0 and 1.0
    assert metrics["app_f1"] >= 0.8 and metrics["pp_param_f1"] >= 0.7  # measured 0.92 and 0.87


# --- on the public data (skipped without it; required where .ci/run finds ../shared) ---------------


def test_public_environment_scores(public_toolspectrum):
    environment = load_toolspectrum("environment", public_toolspectrum)
    got = answers(create_model("baseline/rules", ModelOptions(), environment), environment)
    metrics = score(environment, got, resamples=0).splits["environment"]
    assert metrics["format"] == 1.0
    assert metrics["op_param_f1"] >= 0.9  # measured 0.9125
    assert metrics["app_f1"] >= 0.7  # measured 0.79; a random app among 23 gets about 0.04
    assert metrics["api_f1"] >= 0.7  # measured 0.76
    assert metrics["rp_param_f1"] >= 0.7  # measured 0.78
    right, carried = _followed(environment, got)
    assert right["resourceLoading"] / carried["resourceLoading"] >= 0.95
    assert right["performanceMode"] / carried["performanceMode"] >= 0.95
    assert right["enableVoiceOver"] / carried["enableVoiceOver"] >= 0.98
