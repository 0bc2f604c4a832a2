"""Stages `queries`, `solutions` and `verify` in ToolSpectrum mode (`environment: true`), called
from one hook at the top of each of those stages.

queries: for each user, `queries_per_user` plans (drawn with the stage's seeded generator, in a
fixed order whether or not the key is written, so a resumed run draws the same plans), each of
one ToolSpectrum subset:
  persona              the profile decides: the app the user prefers for the API's category
                       (`UserRecord.preferences`), personalized parameters from the profile;
  environment          the situation decides: a platform rule of the scenario's environment
                       (the other factors drawn so that no other rule fires), environmental
                       parameters from the parameters' `x-values`;
  persona_environment  both: a situation that fires a platform rule decides, else the
                       preference; REFUSAL_SHARE of them are refusals, each drawn from a
                       (fact, prohibition) pair: an environment fact set to a forbidden value,
                       or a profile fact of the user the policy forbids (most draws take a pair
                       the planner expects to hold, a few any policy of the scenario: the rules
                       decide).
The user agent (task "queries.toolspectrum") gets the persona and/or situation, the API with
its query-stated parameters (their `examples` or enum are the range to choose within) and, for
a refusal, the policy it must not quote; it answers {query, values}.

solutions: the gold is the plan's: the app, the API, the query values the user agent chose,
personalized values from the profile (persona subsets), environmental values from `x-values`
(environment subsets); a refusal is platform null and no calls. Sources are the declared ones.
No assistant agent and no judge run in this mode (their checks are the rules below).

verify: the rules (RULES, reasons of a rejected verdict):
  no_solution             no solution record
  value_missing           a query-stated parameter of the API the user agent gave no value
  value_outside_examples  a value outside the parameter's enum or examples
  value_not_in_query      a stated value that does not occur in the query
  quotes_policy           the query quotes a policy of the scenario
  app_undecided           the subset's deciding fact does not single out the gold app (no
                          preference; not exactly one platform rule firing in the environment
                          subset; two rules firing in persona_environment)
  fact_missing            a refusal whose policy's fact the sample does not have
  fact_allowed            a refusal whose fact has a value the policy does not forbid
  other_app_serves        a refusal although a platform offering the API forbids nothing here
  trips_policy            a call that a policy of its app forbids, given the sample's facts
  duplicate_query         the same instruction, persona and situation as an earlier sample of
                          the subset
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import (
    ApiRecord,
    CallRecord,
    EnvironmentRecord,
    PlatformRecord,
    PolicyRecord,
    QueryRecord,
    SolutionRecord,
    SynthConfig,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.stages.environment import ENVIRONMENTS, POLICIES
from pertool.synth.stages.tools import each_in_order, stable
from pertool.synth.store import PipelineDir
from pertool.synth.toolspectrum import (
    SUBSETS,
    environmental_values,
    fact_value,
    forbids,
    persona_of,
    personalized_values,
    quotes,
    refusal_problems,
    source_of,
    triggered_rules,
    tripped,
)

__all__ = ["RULES", "SCRIPTED", "World", "query_params", "rule_failures", "run_queries", "run_solutions",
           "run_verify", "worlds_of"]  # fmt: skip

SUBSET_SHARES = (0.3, 0.3, 0.4)  # persona, environment, persona_environment
REFUSAL_SHARE = 0.5  # of persona_environment plans
EXPLORE_SHARE = 0.15  # refusal pairs drawn from any policy, not only the ones expected to hold
RULES = ("no_solution", "value_missing", "value_outside_examples", "value_not_in_query", "quotes_policy",
         "app_undecided", "fact_missing", "fact_allowed", "other_app_serves", "trips_policy",
         "duplicate_query")  # fmt: skip

INSTRUCTIONS = (
    "You role-play a user (`persona`, may be null) in a situation (`environment`, may be null). "
    "Write ONE natural request to your assistant that the API `api` serves, and choose a value "
    "for each parameter in `api.parameters` within its enum or `examples` (the range to choose "
    "within); state each chosen value verbatim in the request. Do not describe your persona or "
    "situation and do not name an app. If `policy` is given, the request is one that policy "
    "restricts: do not quote or mention it. Reply {query, values}."
)


class QueryOut(BaseModel):
    query: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)


# -- the scenario's world ---------------------------------------------------------------------


@dataclass
class World:
    """What a ToolSpectrum-mode stage knows of one scenario."""

    platforms: list[str]
    apis: list[ApiRecord]
    environment: EnvironmentRecord | None
    policies: list[PolicyRecord]

    def api(self, key: str) -> ApiRecord | None:
        return next((a for a in self.apis if a.key == key), None)


def worlds(ctx: StageContext) -> dict[str, World]:
    return worlds_of(ctx.dir, ctx.config)


def worlds_of(d: PipelineDir, config: SynthConfig) -> dict[str, World]:
    """The config's scenarios that have platforms and APIs, with their environment and policies."""
    platforms = d.read("platforms", PlatformRecord)
    apis = d.read("apis", ApiRecord)
    environments = d.read(ENVIRONMENTS, EnvironmentRecord)
    policies = d.read(POLICIES, PolicyRecord)
    out = {}
    for scenario in sorted(s.name for s in config.scenarios):
        names = sorted(p.name for p in platforms.values() if p.scenario == scenario)
        mine = sorted((a for a in apis.values() if a.scenario == scenario), key=lambda a: a.key)
        if names and mine:
            out[scenario] = World(names, mine, environments.get(scenario),
                                  sorted((p for p in policies.values() if p.scenario == scenario),
                                         key=lambda p: p.key))  # fmt: skip
    return out


def query_params(api: ApiRecord) -> dict[str, dict[str, Any]]:
    """The parameters the user states (declared `x-source: query`, or no source)."""
    props = (api.function.get("parameters") or {}).get("properties") or {}
    return {str(k): v for k, v in props.items() if isinstance(v, dict) and source_of(v)[0] == "query"}


def preferred(user: UserRecord, scenario: str, category: str, platforms: list[str]) -> str | None:
    """The user's app for the category (the scenario's default where the category has none)."""
    prefs = user.preferences.get(scenario, {})
    choice = prefs.get(category) or prefs.get("")
    if choice is None:  # a profile of the older shape: one preferred platform per scenario
        implicit = user.implicit.get(scenario)
        choice = implicit.get("preferred_platform") if isinstance(implicit, dict) else None
    return choice if choice in platforms else None


# -- queries ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    key: str
    user: UserRecord
    scenario: str
    subset: str
    api: ApiRecord
    platform: str
    environment: dict[str, str] | None
    policy: PolicyRecord | None


def _situation(environment: EnvironmentRecord, rng: random.Random, keep: dict[str, str] | None = None,
               avoid_rules: bool = False) -> dict[str, str]:  # fmt: skip
    """One value per factor (`keep`'s as given); with `avoid_rules`, values that fire no platform
    rule, where the factor has one."""
    ruled = {(r["factor"], r["value"]) for r in environment.platform_rules}
    out = {}
    for factor, values in environment.factors.items():
        if keep and factor in keep:
            out[factor] = keep[factor]
            continue
        options = [v for v in values if not (avoid_rules and (factor, v) in ruled)] or values
        out[factor] = rng.choice(options)
    return out


def _plan(key: str, user: UserRecord, index: dict[str, World], rng: random.Random) -> _Plan | None:
    subset = rng.choices(SUBSETS, weights=SUBSET_SHARES)[0]
    scenario = rng.choice(sorted(index))
    world = index[scenario]
    refusal = rng.random() < REFUSAL_SHARE
    # Most plans avoid what the rules would reject; a few (`explore`) are drawn blind, so that
    # the rules, not the planner, have the last word.
    explore = rng.random() < EXPLORE_SHARE
    env = world.environment
    if env is None or not env.factors:
        subset = "persona"
    explicit = user.explicit if subset != "environment" else None
    policy = None
    if subset == "persona_environment" and refusal and world.policies and env is not None:
        policy = _refusal_policy(world, user, rng, explore)
    for _ in range(1 if explore else 8):  # until nothing forbids the call and one app is decided
        restricted = [a for a in world.apis if policy and a.function["name"] in policy.apis]
        api = rng.choice(restricted or world.apis)
        platform = preferred(user, scenario, api.category, world.platforms)
        situation: dict[str, str] | None = None
        if subset == "environment":
            if not env or not env.platform_rules:
                return None
            rule = rng.choice(env.platform_rules)
            platform = rule["platform"]
            situation = _situation(env, rng, keep={rule["factor"]: rule["value"]}, avoid_rules=True)
        elif subset == "persona_environment" and env is not None:
            situation = _situation(env, rng)
            if policy is not None and policy.source == "environment":
                allowed = [v for v in policy.forbidden if str(v) in env.factors.get(policy.fact, [])]
                if allowed:
                    situation[policy.fact] = str(rng.choice(allowed))
            fired = triggered_rules(env, situation, world.platforms)
            platform = fired[0] if len(fired) == 1 else platform
            if len(fired) > 1:
                continue
        name = str(api.function["name"])
        if policy is not None or platform is None or not tripped(world.policies, scenario, platform, name,
                                                                 explicit, situation):  # fmt: skip
            break
    if platform is None:
        platform = rng.choice(world.platforms)  # no preference known: the rule app_undecided decides
    return _Plan(key, user, scenario, subset, api, platform, situation, policy)


def _refusal_policy(world: World, user: UserRecord, rng: random.Random, explore: bool) -> PolicyRecord:
    """The prohibition a refusal rests on: one every platform enforces whose fact the user (a
    profile fact) or a situation (an environment fact) can have forbidden; any, when exploring."""
    every = set(world.platforms)
    expected = [p for p in world.policies if set(p.platforms) >= every and (
        p.source == "environment" or forbids(p, fact_value(p.fact, user.explicit)[1]))]  # fmt: skip
    return rng.choice(world.policies if explore or not expected else expected)


def _plan_signature(plan: _Plan | None) -> str:
    if plan is None:
        return ""
    return json.dumps([plan.subset, plan.api.key, plan.environment, plan.policy.key if plan.policy else ""],
                      sort_keys=True)  # fmt: skip


async def run_queries(ctx: StageContext) -> None:
    index = worlds(ctx)
    users = ctx.dir.read("users", UserRecord)
    done = ctx.dir.read("queries", QueryRecord)
    if not index:
        return
    rng = ctx.rng
    plans = []
    for user in sorted(users.values(), key=lambda u: u.key):
        seen: set[str] = set()
        for i in range(ctx.config.queries_per_user):
            for _ in range(5):  # the same plan twice would get the same (cached) query: draw again
                plan = _plan(f"{user.key}/{i}", user, index, rng)
                signature = _plan_signature(plan)
                if signature not in seen:
                    break
            seen.add(signature)
            if plan is not None and plan.key not in done:
                plans.append(plan)

    async def fetch(plan: _Plan) -> QueryOut | None:
        api = plan.api.function
        inputs = {
            "scenario": plan.scenario, "subset": plan.subset,
            "persona": persona_of(plan.user) if plan.subset != "environment" else None,
            "environment": plan.environment,
            "api": {"name": api["name"], "description": api.get("description", ""),
                    "parameters": query_params(plan.api)},
            "policy": plan.policy.text if plan.policy else None,
        }  # fmt: skip
        return await ctx.llm.ask("queries.toolspectrum", INSTRUCTIONS, inputs, QueryOut, ctx.stats)

    def handle(plan: _Plan, out: QueryOut | None) -> None:
        if out is None:  # counted as "invalid_output" by the client
            return
        ctx.stats.accepted += 1
        ctx.write("queries", QueryRecord(
            key=plan.key, user=plan.user.key, scenario=plan.scenario, platform=plan.platform,
            apis=[plan.api.key], query=out.query.strip(), environment=plan.environment,
            violates_policy=plan.policy is not None, condition=plan.api.category, values=out.values,
            subset=plan.subset, policy=plan.policy.key if plan.policy else ""))  # fmt: skip

    await each_in_order(plans, fetch, handle)


# -- solutions ----------------------------------------------------------------------------------


def gold_call(query: QueryRecord, api: ApiRecord, user: UserRecord) -> CallRecord:
    """The plan's call: stated values, then the profile's and the situation's."""
    arguments: dict[str, Any] = {p: v for p, v in query.values.items() if p in query_params(api)}
    sources: dict[str, Any] = dict.fromkeys(arguments, "query")
    if query.subset != "environment":
        for param, value in personalized_values(api, user.explicit).items():
            arguments[param], sources[param] = value, "profile"
    if query.subset != "persona":
        for param, value in environmental_values(api, query.environment).items():
            arguments[param], sources[param] = value, "environmental"
    return CallRecord(name=str(api.function["name"]), arguments=arguments, sources=sources)


async def run_solutions(ctx: StageContext) -> None:
    index = worlds(ctx)
    users = ctx.dir.read("users", UserRecord)
    done = ctx.dir.read("solutions", SolutionRecord)
    for key, query in sorted(ctx.dir.read("queries", QueryRecord).items()):
        world = index.get(query.scenario)
        api = world.api(query.apis[0]) if world and query.apis else None
        if key in done or api is None or query.user not in users:
            continue
        if query.violates_policy:
            record = SolutionRecord(key=key, platform=None, calls=[])
        else:
            record = SolutionRecord(
                key=key, platform=query.platform, calls=[gold_call(query, api, users[query.user])]
            )
        ctx.stats.accepted += 1
        ctx.write("solutions", record)


# -- verify --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rule_failures(
    query: QueryRecord, solution: SolutionRecord | None, world: World, user: UserRecord
) -> list[str]:
    """The rules a ToolSpectrum-mode sample fails, in RULES order (empty: it passes)."""
    failed: set[str] = set()
    api = world.api(query.apis[0]) if query.apis else None
    if solution is None or api is None:
        return ["no_solution"]
    low = query.query.casefold()
    for param, spec in query_params(api).items():
        if param not in query.values:
            failed.add("value_missing")
            continue
        value = query.values[param]
        allowed = spec.get("enum") if isinstance(spec.get("enum"), list) else spec.get("examples")
        if (
            isinstance(allowed, list)
            and allowed
            and _text(value).casefold() not in {_text(a).casefold() for a in allowed}
        ):
            failed.add("value_outside_examples")
        if _text(value).casefold() not in low:
            failed.add("value_not_in_query")
    if any(quotes(query.query, p.text) for p in world.policies):
        failed.add("quotes_policy")
    explicit = user.explicit if query.subset != "environment" else None
    situation = query.environment if query.subset != "persona" else None
    fired = triggered_rules(world.environment, situation, world.platforms)
    if query.subset == "persona":
        decided = preferred(user, query.scenario, api.category, world.platforms) == query.platform
    elif query.subset == "environment":
        decided = fired == [query.platform]
    else:
        decided = (
            fired == [query.platform]
            if fired
            else (preferred(user, query.scenario, api.category, world.platforms) == query.platform)
        )
    if not decided and not query.violates_policy:
        failed.add("app_undecided")
    name = str(api.function["name"])
    if query.violates_policy:
        policy = next((p for p in world.policies if p.key == query.policy), None)
        if policy is None:
            failed.add("fact_missing")
        else:
            failed.update(
                refusal_problems(policy, world.platforms, name, world.policies, explicit, situation)
            )
    elif solution.platform is not None and tripped(world.policies, query.scenario, solution.platform, name,
                                                   explicit, situation):  # fmt: skip
        failed.add("trips_policy")
    return [r for r in RULES if r in failed]


def _signature(query: QueryRecord, user: UserRecord) -> str:
    persona = user.explicit if query.subset != "environment" else None
    situation = query.environment if query.subset != "persona" else None
    text = " ".join(query.query.casefold().split())
    return json.dumps([query.subset, text, persona, situation], sort_keys=True, default=str)


async def run_verify(ctx: StageContext) -> None:
    index = worlds(ctx)
    users = ctx.dir.read("users", UserRecord)
    solutions = ctx.dir.read("solutions", SolutionRecord)
    done = ctx.dir.read("verdicts", VerdictRecord)
    queries = ctx.dir.read("queries", QueryRecord)
    seen: set[str] = set()
    for key in sorted(queries):
        query = queries[key]
        world, user = index.get(query.scenario), users.get(query.user)
        if world is None or user is None:
            continue
        failed = rule_failures(query, solutions.get(key), world, user)
        signature = _signature(query, user)
        if not failed and signature in seen:
            failed = ["duplicate_query"]
        if not failed:
            seen.add(signature)  # verdicts already written count too, so a resume decides alike
        if key in done:
            continue
        for reason in failed:
            ctx.stats.rejected[reason] += 1
        if not failed:
            ctx.stats.accepted += 1
        ctx.write("verdicts", VerdictRecord(key=key, accepted=not failed, reasons=failed))


# -- the scripted user agent ----------------------------------------------------------------------

_OPENINGS = (
    "Could you {action} for me?",
    "I'd like to {action}.",
    "Please {action}.",
    "Can you help me {action}?",
)
_FALLBACK = ("the usual one", "something simple", "the standard option", "whatever is quickest")


def _words(name: str) -> str:
    import re

    return " ".join(w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name))


def _scripted_query(inputs: dict[str, Any]) -> dict[str, Any]:
    """Values from each parameter's enum or examples (picked by a stable hash), stated as
    `the <parameter words> is "<value>"`. Wrong in a minority: one value left out of the text
    (1 in 17), one value outside its examples (1 in 11), a refusal quoting its policy (1 in 3)."""
    api = inputs.get("api") or {}
    seed = stable(json.dumps(inputs, sort_keys=True, default=str))
    values: dict[str, Any] = {}
    for n, (param, spec) in enumerate(sorted((api.get("parameters") or {}).items())):
        options = spec.get("enum") or spec.get("examples")
        if isinstance(options, list) and options:
            values[param] = options[(seed + n) % len(options)]
        elif spec.get("type") in ("integer", "number"):
            values[param] = 1 + (seed + n) % 4
        elif spec.get("type") == "boolean":
            values[param] = bool((seed + n) % 2)
        else:
            values[param] = _FALLBACK[(seed + n) % len(_FALLBACK)]
    stated = dict(values)
    if stated and seed % 17 == 4:
        stated.pop(sorted(stated)[0])  # left out of the text
    if values and seed % 11 == 5:
        param = sorted(values)[-1]
        if api["parameters"][param].get("enum") or api["parameters"][param].get("examples"):
            values[param] = stated[param] = "something else entirely"
    text = _OPENINGS[seed % len(_OPENINGS)].format(action=_words(str(api.get("name", "help"))))
    if stated:
        details = "; ".join(f'the {_words(p)} is "{_text(v)}"' for p, v in stated.items())
        text += f" {details[0].upper()}{details[1:]}."
    if inputs.get("policy") and seed % 3 == 1:
        text += f' I know that "{inputs["policy"]}", but go ahead.'
    return {"query": text, "values": values}


SCRIPTED = {"queries.toolspectrum": _scripted_query}
