"""Stage `tools`, ToolSpectrum mode (`environment: true`): the environment and the policies of
each scenario, called from hooks in stages/tools.py.

`environments` (task "tools.environment", before the scenario's APIs are written): the factors
of the scenario's situations (at least FACTORS: Weather, Time of Day, Location, Date, Network
Condition, Device Type, Battery Level, two or more values each), the platform rules (a
situation that decides the app: a snowstorm -> the train app, low battery -> the lightweight
app) and the environmental API parameters (a factor's value -> the parameter's value, e.g.
Battery Level "Low Battery" -> performanceMode "battery_saver"), written as EnvironmentRecord
(environments.jsonl). `with_environment` adds those parameters (optional, `x-source:
environment:<factor>`, `x-values`) to each API of the scenario as it is written.

`policies` (task "tools.policies", after the APIs): prohibitions, each testable against one
profile feature or one environment factor, written as PolicyRecord (policies.jsonl); a numeric
profile fact's limit is a `threshold` ({"op": "<", "value": 18}, also read from a `forbidden`
entry in words: "under 18", "65 or older"). The batch ends with a step record
(policy_answers.jsonl), so a run cut off mid-batch asks again (the response cache answers) and
writes only the policies it lacks. Whether a profile fact is one the users have is known only
once they exist: the queries stage checks it (stages/ts_samples.py).

Rules (rejection reasons, counted in the tools stage's summary):
    incomplete_environment         a required factor missing or with fewer than two values (asked
                                   again once, with the problem; then left without environment)
    invalid_platform_rule          a rule on an unknown factor value or platform, or a situation
                                   already ruled to another platform (the rule is dropped)
    invalid_environment_parameter  not an identifier, an unknown factor, `values` not covering
                                   every value of its factor, or a value that is not a scalar of
                                   the declared type ("yes" for a boolean, a dict; dropped)
    policy_not_prohibition         the rule forbids nothing (a perk, a reminder)
    policy_untestable              no fact, or neither a forbidden value nor a threshold (a value
                                   that is not a scalar, two thresholds); for an environment fact,
                                   a factor the scenario lacks, a forbidden value it never takes
                                   or a threshold
    policy_unknown_target          no platform or API, or one the scenario does not have
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pertool.synth.pipeline import StageContext
from pertool.synth.records import (
    ApiRecord,
    EnvironmentRecord,
    PlatformRecord,
    PolicyRecord,
    ScenarioConfig,
    Threshold,
)
from pertool.synth.toolspectrum import FACTORS, PROHIBITIVE, key_words, threshold_of

__all__ = ["RULES", "SCRIPTED", "environments", "policies", "with_environment", "PROFILE_FACTS",
           "name_taken", "PolicyStepRecord"]  # fmt: skip

ENVIRONMENTS, POLICIES, POLICY_STEPS = "environments", "policies", "policy_answers"
RULES = ("incomplete_environment", "invalid_platform_rule", "invalid_environment_parameter",
         "policy_not_prohibition", "policy_untestable", "policy_unknown_target")  # fmt: skip
PROFILE_FACTS = ("age", "gender", "occupation", "income level")  # the demographics every profile has
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TYPES = ("string", "integer", "number", "boolean")


class RuleOut(BaseModel):
    factor: str
    value: str
    platform: str


class EnvParamOut(BaseModel):
    name: str
    type: str = "string"
    description: str = ""
    factor: str
    values: dict[str, Any]  # factor value -> parameter value


class EnvironmentOut(BaseModel):
    factors: dict[str, list[str]]
    platform_rules: list[RuleOut] = Field(default_factory=list)
    parameters: list[EnvParamOut] = Field(default_factory=list)


class PolicyOut(BaseModel):
    text: str
    platforms: list[str]
    fact: str
    source: Literal["profile", "environment"]
    forbidden: list[Any] = Field(default_factory=list)
    threshold: Any = None  # {"op": "<", "value": 18}; checked by the rules, not the schema
    apis: list[str]


class PolicyStepRecord(BaseModel):
    """A scenario's policies as answered and checked (policy_answers.jsonl): the batch is done."""

    model_config = ConfigDict(extra="forbid")
    key: str  # the scenario
    policies: list[str] = Field(default_factory=list)  # the accepted PolicyRecord keys


class PoliciesOut(BaseModel):
    policies: list[PolicyOut]


ENVIRONMENT_INSTRUCTIONS = (
    "Describe the situations a user of this scenario's apps can be in. `factors`: each factor "
    f"among {', '.join(FACTORS)} (and any other that matters here) with 2-5 short values. "
    "`platform_rules`: situations that decide which of `platforms` to use (e.g. in a snowstorm "
    "the train app, on low battery the lightweight app), each {factor, value, platform}, at most "
    "one platform per situation. `parameters`: 2-5 app settings every API takes that depend on "
    "the situation (camelCase name, JSON type, description, the factor, and `values` mapping "
    "EVERY value of that factor to the setting's value). If `problem` is given, fix it."
)
POLICIES_INSTRUCTIONS = (
    "Write 2-5 prohibitions the scenario's platforms enforce, in the style of app store policies "
    '(e.g. "Users under 18 are not allowed to buy tickets for long-distance trains"). Each must '
    "forbid something and be testable against ONE fact: a profile feature among `profile_facts` "
    "(source profile) or an environment factor among `environment` (source environment); "
    "`forbidden` lists the fact's values under which it applies (for an environment factor, "
    "values from its list); for a numeric profile fact give `threshold` instead, e.g. "
    '{"op": "<", "value": 18} for an age limit. `apis` lists the function names it restricts, '
    "`platforms` the platforms enforcing it."
)


# -- environments ---------------------------------------------------------------------------


def _environment_problem(out: EnvironmentOut) -> str:
    for factor in FACTORS:
        values = [v for v in out.factors.get(factor, []) if str(v).strip()]
        if len(set(values)) < 2:
            return f"factor {factor!r} needs two or more values"
    return ""


async def environments(ctx: StageContext, scenario: ScenarioConfig) -> None:
    """The scenario's EnvironmentRecord, unless written (hook: before its APIs are written)."""
    if scenario.name in ctx.dir.read(ENVIRONMENTS, EnvironmentRecord):
        return
    platforms = sorted((p for p in ctx.dir.read("platforms", PlatformRecord).values()
                        if p.scenario == scenario.name), key=lambda p: p.key)  # fmt: skip
    inputs: dict[str, Any] = {
        "scenario": scenario.name, "description": scenario.description,
        "platforms": [{"name": p.name, "characteristics": p.characteristics} for p in platforms],
    }  # fmt: skip
    out = await ctx.llm.ask("tools.environment", ENVIRONMENT_INSTRUCTIONS, inputs, EnvironmentOut, ctx.stats)
    problem = _environment_problem(out) if out is not None else ""
    if out is not None and problem:
        ctx.stats.rejected["incomplete_environment"] += 1
        inputs["problem"] = problem
        out = await ctx.llm.ask(
            "tools.environment", ENVIRONMENT_INSTRUCTIONS, inputs, EnvironmentOut, ctx.stats
        )
        if out is not None and _environment_problem(out):
            ctx.stats.rejected["incomplete_environment"] += 1
            return
    if out is None:
        return
    factors = {k.strip(): list(dict.fromkeys(str(v).strip() for v in vs if str(v).strip()))
               for k, vs in out.factors.items() if k.strip()}  # fmt: skip
    names = {p.name for p in platforms}
    rules: list[dict[str, str]] = []
    ruled: dict[tuple[str, str], str] = {}
    for rule in out.platform_rules:
        situation = (rule.factor.strip(), rule.value.strip())
        if (rule.value.strip() not in factors.get(situation[0], []) or rule.platform not in names
                or ruled.get(situation, rule.platform) != rule.platform):  # fmt: skip
            ctx.stats.rejected["invalid_platform_rule"] += 1
            continue
        if situation not in ruled:
            ruled[situation] = rule.platform
            rules.append({"factor": situation[0], "value": situation[1], "platform": rule.platform})
    parameters: dict[str, dict[str, Any]] = {}
    for param in out.parameters:
        values = {str(k).strip(): v for k, v in param.values.items()}
        if (not _IDENT.match(param.name) or param.type not in _TYPES or param.factor not in factors
                or set(factors[param.factor]) - set(values) or param.name in parameters
                or not all(_typed(values[v], param.type) for v in factors[param.factor])):  # fmt: skip
            ctx.stats.rejected["invalid_environment_parameter"] += 1
            continue
        options = list(dict.fromkeys(values[v] for v in factors[param.factor]))
        parameters[param.name] = {"type": param.type, "description": param.description.strip(),
                                  "enum": options, "x-source": f"environment:{param.factor}",
                                  "x-values": {v: values[v] for v in factors[param.factor]}}  # fmt: skip
    ctx.stats.accepted += 1
    ctx.write(ENVIRONMENTS, EnvironmentRecord(key=scenario.name, factors=factors, platform_rules=rules,
                                              parameters=parameters))  # fmt: skip


def _typed(value: Any, kind: str) -> bool:
    """A scalar of the declared JSON type (a gold argument carries it as is)."""
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        numeric = (int,) if kind == "integer" else (int, float)
        return isinstance(value, numeric) and not isinstance(value, bool)
    return isinstance(value, str) and bool(value.strip())


def name_taken(name: str, scenario: str, platforms: Iterable[PlatformRecord]) -> bool:
    """Whether another scenario has a platform of this name: ToolSpectrum's layout keys apps by
    name (hook: stages/tools.py `_platforms`, in this mode)."""
    return any(p.name.casefold() == name.casefold() and p.scenario != scenario for p in platforms)


def with_environment(ctx: StageContext, scenario: str, function: dict[str, Any]) -> dict[str, Any]:
    """The function with the scenario's environmental parameters added (optional ones; a
    parameter the API already has keeps its own spec). Hook: as each API is written."""
    record = ctx.dir.read(ENVIRONMENTS, EnvironmentRecord).get(scenario)
    if record is None or not record.parameters:
        return function
    parameters = dict(function.get("parameters") or {})
    properties = dict(parameters.get("properties") or {})
    for name, spec in record.parameters.items():
        properties.setdefault(name, dict(spec))
    return {**function, "parameters": {**parameters, "properties": properties}}


# -- policies --------------------------------------------------------------------------------


def _limits(policy: PolicyOut) -> tuple[list[Any], Threshold | None] | None:
    """The policy's forbidden values and threshold (a `forbidden` entry in words, "under 18",
    read as the threshold); None where they are malformed (a value not a scalar, two thresholds,
    a threshold not {op, value})."""
    if any(isinstance(v, (dict, list)) for v in policy.forbidden):
        return None
    forbidden = [v for v in policy.forbidden if str(v).strip()]
    stated = [t for t in map(threshold_of, forbidden) if t is not None] if policy.source == "profile" else []
    if policy.threshold is not None:
        try:
            stated.insert(0, Threshold.model_validate(policy.threshold))
        except ValidationError:
            return None
    if len({(t.op, t.value) for t in stated}) > 1:
        return None
    values = [v for v in forbidden if threshold_of(v) is None] if stated else forbidden
    return values, (stated[0] if stated else None)


def _policy_problem(
    policy: PolicyOut, factors: dict[str, list[str]], platforms: set[str], apis: set[str]
) -> str:
    if not PROHIBITIVE.search(policy.text):
        return "policy_not_prohibition"
    limits = _limits(policy)
    if not key_words(policy.fact) or limits is None or not (limits[0] or limits[1]):
        return "policy_untestable"
    if policy.source == "environment":
        factor = next((f for f in factors if key_words(f) == key_words(policy.fact)), None)
        if factor is None or limits[1] is not None or any(str(v) not in factors[factor] for v in limits[0]):
            return "policy_untestable"
    if (
        not policy.platforms
        or set(policy.platforms) - platforms
        or not policy.apis
        or set(policy.apis) - apis
    ):
        return "policy_unknown_target"
    return ""


async def policies(ctx: StageContext, scenario: ScenarioConfig) -> None:
    """The scenario's PolicyRecords, unless its step record is written (hook: after its APIs are
    written). A batch cut off midway is asked again and only its missing policies are written."""
    if scenario.name in ctx.dir.read(POLICY_STEPS, PolicyStepRecord):
        return
    have = {k for k, p in ctx.dir.read(POLICIES, PolicyRecord).items() if p.scenario == scenario.name}
    environment = ctx.dir.read(ENVIRONMENTS, EnvironmentRecord).get(scenario.name)
    platforms = sorted(p.name for p in ctx.dir.read("platforms", PlatformRecord).values()
                       if p.scenario == scenario.name)  # fmt: skip
    apis = sorted((a for a in ctx.dir.read("apis", ApiRecord).values() if a.scenario == scenario.name),
                  key=lambda a: a.key)  # fmt: skip
    if not platforms or not apis:
        return
    factors = environment.factors if environment else {}
    inputs = {"scenario": scenario.name, "description": scenario.description, "platforms": platforms,
              "apis": [{"name": a.function["name"], "description": a.function.get("description", "")}
                       for a in apis],
              "profile_facts": list(PROFILE_FACTS), "environment": factors}  # fmt: skip
    out = await ctx.llm.ask("tools.policies", POLICIES_INSTRUCTIONS, inputs, PoliciesOut, ctx.stats)
    if out is None:
        return
    names = {str(a.function["name"]) for a in apis}
    # An interrupted run wrote the first `len(have)` of them, its counts up to the last of those
    # saved with it: count again only what comes after.
    unseen = len(have)
    accepted: list[str] = []
    for policy in out.policies:
        problem = _policy_problem(policy, factors, set(platforms), names)
        if problem:
            if not unseen:
                ctx.stats.rejected[problem] += 1
            continue
        key = f"{scenario.name}/{len(accepted)}"
        accepted.append(key)
        if key in have:
            unseen -= 1
            continue
        fact = policy.fact.strip()
        if policy.source == "environment":  # the factor's own spelling
            fact = next(f for f in factors if key_words(f) == key_words(fact))
        forbidden, threshold = _limits(policy) or ([], None)
        ctx.stats.accepted += 1
        ctx.write(POLICIES, PolicyRecord(
            key=key, scenario=scenario.name, platforms=sorted(set(policy.platforms)),
            text=policy.text.strip(), fact=fact, source=policy.source, forbidden=forbidden,
            threshold=threshold, apis=sorted(set(policy.apis))))  # fmt: skip
    ctx.write(POLICY_STEPS, PolicyStepRecord(key=scenario.name, policies=accepted))


# -- the scripted answers ----------------------------------------------------------------------

_FACTORS: dict[str, list[str]] = {
    "Weather": ["Sunny", "Rainy", "Snowstorm", "Heatwave"],
    "Time of Day": ["Morning", "Afternoon", "Evening", "Late Night"],
    "Location": ["At home", "At the office", "On the subway", "Abroad"],
    "Date": ["01-15", "05-20", "08-01", "12-24"],
    "Network Condition": ["Wifi", "4G", "Weak Signal", "Offline"],
    "Device Type": ["Mobile", "Tablet", "Laptop"],
    "Battery Level": ["Full Battery", "Medium Battery", "Low Battery"],
}  # fmt: skip
_PARAMETERS = (
    ("performanceMode", "string", "The performance mode", "Battery Level",
     {"Full Battery": "performance", "Medium Battery": "performance", "Low Battery": "battery_saver"}),
    ("resourceLoading", "string", "The resource loading mode", "Network Condition",
     {"Wifi": "online", "4G": "online", "Weak Signal": "offline", "Offline": "offline"}),
    ("preferredOrientation", "string", "The preferred screen orientation", "Device Type",
     {"Mobile": "portrait", "Tablet": "landscape", "Laptop": "landscape"}),
    ("darkMode", "boolean", "Whether to use the dark theme", "Time of Day",
     {"Morning": False, "Afternoon": False, "Evening": True, "Late Night": True}),
)  # fmt: skip
# Situations that decide the app, by the platform's position among the scenario's.
_RULES = (
    ("Battery Level", "Low Battery", 0),
    ("Weather", "Snowstorm", 1),
    ("Network Condition", "Weak Signal", -1),
)


def _scripted_environment(inputs: dict[str, Any]) -> dict[str, Any]:
    """ToolSpectrum-like factors, three platform rules and four environmental parameters. Wrong
    in a minority: every answer has one rule on a value no factor takes and one parameter
    whose values miss a situation; for one scenario in four the first answer lacks Battery
    Level (the re-ask with `problem` is answered in full)."""
    from pertool.synth.stages.tools import stable

    scenario = str(inputs.get("scenario", ""))
    names = [str(p["name"]) for p in inputs.get("platforms") or []]
    factors = {k: list(v) for k, v in _FACTORS.items()}
    if stable(scenario) % 4 == 2 and not inputs.get("problem"):
        del factors["Battery Level"]
    rules = [{"factor": f, "value": v, "platform": names[i % len(names)]} for f, v, i in _RULES if names]
    if names:
        rules.append({"factor": "Weather", "value": "Hail", "platform": names[0]})  # a value no factor takes
    parameters = [
        {"name": n, "type": t, "description": d, "factor": f, "values": v} for n, t, d, f, v in _PARAMETERS
    ]
    parameters.append(
        {
            "name": "mediaQuality",
            "type": "string",
            "description": "The media quality",
            "factor": "Battery Level",
            "values": {"Full Battery": "high"},
        }
    )  # misses two values
    return {"factors": factors, "platform_rules": rules, "parameters": parameters}


def _scripted_policies(inputs: dict[str, Any]) -> dict[str, Any]:
    """Three grounded prohibitions every platform enforces (an age limit as a threshold, a
    network condition, an income level), one all but the last platform enforce (a heatwave: no
    refusal can rest on it, since the last app serves), one whose `forbidden` states its limit
    in words ("under 16", read as a threshold; no scripted user is that young, so the queries
    stage finds it untestable), and slips a model makes: a perk (not a prohibition), a
    prohibition on a weather the scenario never has (untestable), one naming an API the scenario
    lacks (unknown target), one on a fact profiles do not carry (membership: the queries stage
    finds it untestable; refusals resting on it lack the fact)."""
    platforms = [str(p) for p in inputs.get("platforms") or []]
    apis = [str(a["name"]) for a in inputs.get("apis") or []]
    first, second = apis[0::2] or apis, apis[1::2] or apis
    listed, others = ", ".join(first), ", ".join(second)
    policies = [
        {"text": f"Users under 18 are not allowed to use {listed}.", "platforms": platforms, "fact": "age",
         "source": "profile", "threshold": {"op": "<", "value": 18}, "apis": first},
        {"text": f"While the network is offline, {others} cannot be used.",
         "platforms": platforms, "fact": "Network Condition", "source": "environment",
         "forbidden": ["Offline"], "apis": second},
        {"text": f"Low-income users may not use {listed}.", "platforms": platforms,
         "fact": "income level", "source": "profile", "forbidden": ["low"], "apis": first},
        {"text": f"While the weather is Heatwave, {others} are unavailable.",
         "platforms": platforms[:-1] or platforms, "fact": "Weather", "source": "environment",
         "forbidden": ["Heatwave"], "apis": second},
        {"text": "Users over 60 get a 10% discount.", "platforms": platforms, "fact": "age",
         "source": "profile", "forbidden": ["over 60"], "apis": first},
        {"text": "Orders are not allowed during hail.", "platforms": platforms, "fact": "Weather",
         "source": "environment", "forbidden": ["Hail"], "apis": apis},
        {"text": f"Users under 13 may not use {apis[0]}Express.", "platforms": platforms, "fact": "age",
         "source": "profile", "forbidden": ["under 13"], "apis": [f"{apis[0]}Express"]},
        {"text": f"Users without a premium membership may not use {others}.", "platforms": platforms,
         "fact": "membership level", "source": "profile", "forbidden": ["basic", "none"], "apis": second},
        {"text": f"Users under 16 are not allowed to use {others}.", "platforms": platforms,
         "fact": "age", "source": "profile", "forbidden": ["under 16"], "apis": second},
    ]  # fmt: skip
    return {"policies": policies if apis else []}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "tools.environment": _scripted_environment,
    "tools.policies": _scripted_policies,
}
