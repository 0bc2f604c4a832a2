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
                       (fact, prohibition) pair the planner expects to hold: an environment
                       fact set to a forbidden value, or a profile fact of the user the policy
                       forbids (none: the plan is no refusal).
Before planning, the profile-fact policies are checked against the users, which exist only
now: a policy no user's fact trips (a fact the profiles lack, values or a threshold none has)
can ground no refusal; it is counted once as "policy_untestable" in this stage's summary and
left out of the refusal draws (the apps still state it, and `trips_policy` still reads it).
The user agent (task "queries.toolspectrum") gets the query key (`sample`), the persona
without its app preferences (it must not name an app, so it is not told one) and/or the
situation, the API with its query-stated parameters (their `examples` or enum are the range to
choose within), its own `earlier` requests of the subset (not to repeat) and, for a refusal,
the policy it must not quote; it answers {query, values}. Plans are asked in rounds (every
user's i-th plan, then the (i+1)-th), so `earlier` is known, the same on a resumed run.

solutions: the assistant agent (stages/ts_assistant.py, task "solutions.toolspectrum") answers
each query from ToolSpectrum's view of it: {APP, API, params} or a refusal. The gold stays the
plan's (`gold_of`): the app, the API, the query values the user agent chose, personalized values
from the profile (persona subsets), environmental values from `x-values` (environment subsets);
a refusal is platform null and no calls. A sample is kept only where the assistant agrees.

verify: the rules (RULES, reasons of a rejected verdict), then the judge (task "verify.judge",
the PTBench mode's output and `judge_cutoff`; reasons "judge:<score>=<value>"):
  no_solution             the assistant gave no answer in the schema (after the re-asks)
  value_missing           a query-stated parameter of the API the user agent gave no value
  value_outside_examples  a value outside the parameter's enum or examples
  value_not_in_query      a stated value that does not occur in the query
  quotes_policy           the query quotes a policy of the scenario
  names_app               the query names an app of the scenario ("ShoppingHub", "shopping hub")
  states_situation        the query states a deciding fact: a situation value that fires a
                          platform rule, or a refusal's fact ("it is snowing", "I am 16", "my
                          income is low"; not a value the user states for the request)
  app_undecided           the subset's deciding fact does not single out the gold app (no
                          preference; not exactly one platform rule firing in the environment
                          subset; two rules firing in persona_environment)
  fact_missing            a refusal whose policy's fact the sample does not have
  fact_allowed            a refusal whose fact has a value the policy does not forbid
  other_app_serves        a refusal although a platform offering the API forbids nothing here
  trips_policy            a call that a policy of its app forbids, given the sample's facts
  assistant_refusal       the assistant refuses where the gold answers, or answers a refusal
  assistant_app           the assistant's app is not the gold app
  assistant_api           the assistant calls no API or another one than the gold's
  assistant_params        an argument of the assistant differs from the gold's, or one of
                          either is missing in the other (so a kept answer IS the gold)
  duplicate_query         the same instruction, persona and situation as an earlier sample of
                          the subset that passed the rules (checked whatever else failed)
The guards on the plan (app_undecided, fact_missing, fact_allowed, other_app_serves,
trips_policy) check what the planner builds from the earlier stages' records; no user agent or
assistant answer can trip them, and the planner avoids what they reject. So that they are
tested, the planner builds, at the slots PROBES names (about 4 % of the requests), one plan
each rule must reject: candidates from the records the run has (a refusal on each policy with
its fact forbidden or allowed, a call each policy forbids, a situation two platform rules
claim), the first one the rule, run on it, rejects; so a probe fires whatever the seed and the
users drawn (a policy on a fact profiles lack -> fact_missing; an environment policy in an
allowed situation -> fact_allowed; one some app does not enforce -> other_app_serves).
The scripted user agent is wrong at the slots QUERY_SLOTS names, the scripted assistant and
judge at stages/ts_assistant.py's SLOTS; at the slots SHAPES names the plan's kind is fixed so
that the fault there has what it needs (a policy to quote, a situation to state, a clean earlier
request to repeat, settings to leave out). Slots: "user-<n>/<i>" -> (16 n + i) % 128.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
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
from pertool.synth.stages import ts_assistant, verify
from pertool.synth.stages.environment import ENVIRONMENTS, POLICIES
from pertool.synth.stages.tools import each_in_order
from pertool.synth.store import PipelineDir
from pertool.synth.toolspectrum import (
    SUBSETS,
    environmental_values,
    fact_value,
    forbids,
    names_app,
    persona_of,
    personalized_values,
    quotes,
    refusal_problems,
    same,
    source_of,
    states_fact,
    triggered_rules,
    tripped,
)

__all__ = ["RULES", "SCRIPTED", "World", "query_params", "rule_failures", "run_queries", "run_solutions",
           "run_verify", "worlds_of"]  # fmt: skip

SUBSET_SHARES = (0.3, 0.3, 0.4)  # persona, environment, persona_environment
REFUSAL_SHARE = 0.5  # of persona_environment plans
# Plans the planner builds on purpose from records it does not vouch for, at these slots of a
# query key ("user-<n>/<i>" -> (16 n + i) % 128, as stages/ts_assistant.py's SLOTS), each named
# by the rule that must reject it: the rules, not the planner, have the last word.
PROBES = {7: "fact_missing", 9: "other_app_serves", 24: "fact_allowed", 49: "trips_policy",
          52: "app_undecided"}  # fmt: skip
# The scripted user agent's wrong answers, by slot (it sees the query key as `sample`, as the
# assistant does), and the slots whose plan kind is fixed so that a scripted fault there has
# what it needs: a policy to quote, a deciding situation to state, an earlier request of the
# subset to repeat (32, a clean one), an app and settings for the assistant's faults, a clean
# sample for the judge's (stages/ts_assistant.py SLOTS).
QUERY_SLOTS = {17: "value_missing", 34: "value_not_in_query", 50: "value_outside_examples",
               20: "quotes_policy", 38: "names_app", 54: "states_situation", 33: "duplicate_query"}
SHAPES = {20: "refusal", 54: "environment", 32: "persona", 33: "persona",
          **dict.fromkeys((5, 19, 23, 13, 29, 40, 47, 51, 55), "environment")}  # fmt: skip
RULES = ("no_solution", "value_missing", "value_outside_examples", "value_not_in_query", "quotes_policy",
         "names_app", "states_situation", "app_undecided", "fact_missing", "fact_allowed", "other_app_serves",
         "trips_policy",
         "assistant_refusal", "assistant_app", "assistant_api", "assistant_params",
         "duplicate_query")  # fmt: skip

INSTRUCTIONS = (
    "You role-play a user (`persona`, may be null) in a situation (`environment`, may be null). "
    "Write ONE natural request to your assistant that the API `api` serves, and choose a value "
    "for each parameter in `api.parameters` within its enum or `examples` (the range to choose "
    "within); state each chosen value verbatim in the request. Do not describe your persona or "
    "situation and do not name an app, and do not repeat any of your `earlier` requests. If "
    "`policy` is given, the request is one that policy restricts: do not quote or mention it. "
    "Reply {query, values}."
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


def _plan(key: str, user: UserRecord, index: dict[str, World], rng: random.Random,
          untestable: set[str]) -> _Plan | None:  # fmt: skip
    kind = probe_at(key)
    probe = _probe(kind, key, user, index, rng) if kind else None
    if probe is not None:
        return probe
    subset = rng.choices(SUBSETS, weights=SUBSET_SHARES)[0]
    scenario = rng.choice(sorted(index))
    world = index[scenario]
    refusal = rng.random() < REFUSAL_SHARE
    shape = SHAPES.get(ts_assistant.slot_of(key) or 0)
    if shape:  # a slot whose scripted fault needs this kind of plan
        subset, refusal = ("persona_environment", True) if shape == "refusal" else (shape, False)
    env = world.environment
    if env is None or not env.factors:
        subset = "persona"
    explicit = user.explicit if subset != "environment" else None
    policy = None
    if subset == "persona_environment" and refusal and world.policies and env is not None:
        policy = _refusal_policy(world, user, rng, untestable)
    for _ in range(16):  # until nothing forbids the call and one app is decided
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


def _refusal_policy(world: World, user: UserRecord, rng: random.Random,
                    untestable: set[str]) -> PolicyRecord | None:  # fmt: skip
    """The prohibition a refusal rests on: one every platform enforces whose fact the user (a
    profile fact) or a situation (an environment fact) can have forbidden (None: there is none)."""
    expected = [p for p in world.policies if p.key not in untestable and _grounds(p, world, user) == ""]
    return rng.choice(expected) if expected else None


def _grounds(policy: PolicyRecord, world: World, user: UserRecord) -> str:
    """Why a refusal on `policy` would not hold for the user ("": it can): the rule's name."""
    if policy.source == "profile":
        found, value = fact_value(policy.fact, user.explicit)  # a missing fact is not the value "none"
        if not found:
            return "fact_missing"
        if not forbids(policy, value):
            return "fact_allowed"
    return "" if set(policy.platforms) >= set(world.platforms) else "other_app_serves"


def untestable_policies(index: dict[str, World], users: Iterable[UserRecord]) -> list[PolicyRecord]:
    """The profile-fact policies no user's fact trips (a fact the profiles lack, values or a
    threshold none of them has): no refusal can rest on them. Known only once users exist."""
    users = list(users)
    out = []
    for world in index.values():
        for policy in world.policies:
            values = [v for found, v in (fact_value(policy.fact, u.explicit) for u in users) if found]
            if policy.source == "profile" and not any(forbids(policy, v) for v in values):
                out.append(policy)
    return out


def probe_at(key: str) -> str | None:
    slot = ts_assistant.slot_of(key)
    return PROBES.get(slot) if slot is not None else None


def _probe(kind: str, key: str, user: UserRecord, index: dict[str, World],
           rng: random.Random) -> _Plan | None:  # fmt: skip
    """A plan the rule `kind` must reject, built on the records as they are (None: none can be):
    the first candidate the rule, run on it, does reject."""
    for scenario in rng.sample(sorted(index), len(index)):
        world, env = index[scenario], index[scenario].environment
        if env is None or not env.factors:
            continue
        for plan in _candidates(kind, key, user, scenario, world, env, rng):
            if kind in guard_failures(_as_query(plan), world, user, plan.api):
                return plan
    return None


def _candidates(kind: str, key: str, user: UserRecord, scenario: str, world: World, env: EnvironmentRecord,
                rng: random.Random) -> Iterator[_Plan]:  # fmt: skip
    """Plans that may trip the guard `kind`: a situation two platform rules claim (app_undecided);
    a refusal on each policy, its fact forbidden (other_app_serves, fact_missing) or allowed
    (fact_allowed); a call each policy forbids (trips_policy)."""
    rules = env.platform_rules
    for a, b in ((a, b) for a in rules for b in rules if kind == "app_undecided"):
        if a["factor"] != b["factor"] and a["platform"] != b["platform"]:
            situation = _situation(env, rng, keep={a["factor"]: a["value"], b["factor"]: b["value"]},
                                   avoid_rules=True)  # fmt: skip
            api = rng.choice(world.apis)
            yield _Plan(key, user, scenario, "environment", api, a["platform"], situation, None)
    for policy in world.policies if kind != "app_undecided" else []:
        apis = [a for a in (world.api(f"{scenario}/{n}") for n in policy.apis) if a is not None]
        values = env.factors.get(policy.fact, []) if policy.source == "environment" else []
        wanted = [v for v in values if forbids(policy, v) != (kind == "fact_allowed")]
        for _ in range(4 if apis else 0):  # a few situations: another policy may forbid it elsewhere too
            situation = _situation(env, rng)
            if wanted:
                situation[policy.fact] = rng.choice(wanted)
            api = rng.choice(apis)
            if kind == "trips_policy":
                for platform in (p for p in policy.platforms if p in world.platforms):
                    yield _Plan(key, user, scenario, "persona_environment", api, platform, situation, None)
            else:
                platform = preferred(user, scenario, api.category, world.platforms) or world.platforms[0]
                yield _Plan(key, user, scenario, "persona_environment", api, platform, situation, policy)


def _as_query(plan: _Plan) -> QueryRecord:
    """The plan as the query record it would become (no request written yet)."""
    return QueryRecord(key=plan.key, user=plan.user.key, scenario=plan.scenario, platform=plan.platform,
                       apis=[plan.api.key], query="", environment=plan.environment,
                       violates_policy=plan.policy is not None, condition=plan.api.category,
                       subset=plan.subset, policy=plan.policy.key if plan.policy else "")  # fmt: skip


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
    untestable = {p.key for p in untestable_policies(index, users.values())}
    if not done:  # counted once: a resumed run has the counts its first query saved
        ctx.stats.rejected["policy_untestable"] += len(untestable)
    rng = ctx.rng
    by_user: list[list[_Plan]] = []
    for user in sorted(users.values(), key=lambda u: u.key):
        seen: set[str] = set()
        mine = []
        for i in range(ctx.config.queries_per_user):
            for _ in range(5):  # the same plan twice would get the same (cached) query: draw again
                plan = _plan(f"{user.key}/{i}", user, index, rng, untestable)
                signature = _plan_signature(plan)
                if signature not in seen:
                    break
            seen.add(signature)
            if plan is not None:
                mine.append(plan)
        by_user.append(mine)
    # The user's earlier requests of the plan's subset, in plan order (written ones too): a
    # request of another scenario with the same persona or situation would be a duplicate too.
    earlier: dict[tuple[str, str], list[str]] = {}

    def before(plan: _Plan) -> list[str]:
        return earlier.setdefault((plan.user.key, plan.subset), [])

    async def fetch(plan: _Plan) -> QueryOut | None:
        api = plan.api.function
        inputs = {
            "sample": plan.key, "scenario": plan.scenario, "subset": plan.subset,
            "persona": persona_of(plan.user, apps=False) if plan.subset != "environment" else None,
            "environment": plan.environment,
            "api": {"name": api["name"], "description": api.get("description", ""),
                    "parameters": query_params(plan.api)},
            "policy": plan.policy.text if plan.policy else None,
            "earlier": list(before(plan)),
        }  # fmt: skip
        return await ctx.llm.ask("queries.toolspectrum", INSTRUCTIONS, inputs, QueryOut, ctx.stats)

    def handle(plan: _Plan, out: QueryOut | None) -> None:
        if out is None:  # counted as "invalid_output" by the client
            return
        ctx.stats.accepted += 1
        before(plan).append(out.query.strip())
        ctx.write("queries", QueryRecord(
            key=plan.key, user=plan.user.key, scenario=plan.scenario, platform=plan.platform,
            apis=[plan.api.key], query=out.query.strip(), environment=plan.environment,
            violates_policy=plan.policy is not None, condition=plan.api.category, values=out.values,
            subset=plan.subset, policy=plan.policy.key if plan.policy else ""))  # fmt: skip

    for i in range(max(map(len, by_user), default=0)):  # round i: every user's i-th plan
        batch = []
        for mine in by_user:
            if i < len(mine) and mine[i].key in done:
                before(mine[i]).append(done[mine[i].key].query)
            elif i < len(mine):
                batch.append(mine[i])
        await each_in_order(batch, fetch, handle)


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


def gold_of(query: QueryRecord, world: World, user: UserRecord) -> SolutionRecord | None:
    """The plan's gold (None where the query's API is unknown): a refusal, or the call on its app."""
    api = world.api(query.apis[0]) if query.apis else None
    if api is None:
        return None
    if query.violates_policy:
        return SolutionRecord(key=query.key, platform=None, calls=[])
    return SolutionRecord(key=query.key, platform=query.platform, calls=[gold_call(query, api, user)])


async def run_solutions(ctx: StageContext) -> None:
    """Stage `solutions`, ToolSpectrum mode: the assistant agent (stages/ts_assistant.py)."""
    await ts_assistant.run_solutions(ctx)


# -- verify --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _disagreement(solution: SolutionRecord, gold: SolutionRecord) -> str | None:
    """The assistant rule the answer fails against the gold (None: they agree)."""
    if (solution.platform is None) != (gold.platform is None):
        return "assistant_refusal"
    if gold.platform is None:
        return None
    if solution.platform != gold.platform:
        return "assistant_app"
    if len(solution.calls) != 1 or solution.calls[0].name != gold.calls[0].name:
        return "assistant_api"
    mine, theirs = solution.calls[0].arguments, gold.calls[0].arguments
    if set(mine) != set(theirs) or any(not same(_text(mine[p]), _text(theirs[p])) for p in theirs):
        return "assistant_params"
    return None


def rule_failures(
    query: QueryRecord, solution: SolutionRecord | None, world: World, user: UserRecord
) -> list[str]:
    """The rules a ToolSpectrum-mode sample fails, in RULES order (empty: it passes), but for
    duplicate_query (run_verify's, over the samples)."""
    failed: set[str] = set()
    api = world.api(query.apis[0]) if query.apis else None
    gold = gold_of(query, world, user)
    if solution is None or api is None or gold is None:
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
    if names_app(query.query, world.platforms):
        failed.add("names_app")
    if any(states_fact(query.query, fact, value, profile, query.values.values())
           for fact, value, profile in deciding_facts(query, world, user)):  # fmt: skip
        failed.add("states_situation")
    failed.update(guard_failures(query, world, user, api))
    disagreement = _disagreement(solution, gold)
    if disagreement:
        failed.add(disagreement)
    return [r for r in RULES if r in failed]


def deciding_facts(query: QueryRecord, world: World, user: UserRecord) -> list[tuple[str, Any, bool]]:
    """The facts that decide the sample, (fact, value, from the profile): the situation's values
    that fire a platform rule, and a refusal's policy fact. Stating one in the request gives the
    answer away (the preference's deciding fact is the app itself: names_app)."""
    situation = (query.environment if query.subset != "persona" else None) or {}
    rules = world.environment.platform_rules if world.environment else []
    out: list[tuple[str, Any, bool]] = []
    for rule in rules:
        value = situation.get(rule["factor"], "")
        if rule.get("platform") in world.platforms and same(value, rule["value"]):
            out.append((rule["factor"], value, False))
    policy = next((p for p in world.policies if p.key == query.policy and query.violates_policy), None)
    if policy is not None:
        profile = policy.source == "profile"
        found, value = fact_value(policy.fact, user.explicit if profile else situation)
        if found:
            out.append((policy.fact, value, profile))
    return out


def guard_failures(query: QueryRecord, world: World, user: UserRecord, api: ApiRecord) -> set[str]:
    """The plan's guards a sample fails: app_undecided, the refusal's grounds, trips_policy."""
    failed: set[str] = set()
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
    elif tripped(world.policies, query.scenario, query.platform, name, explicit, situation):
        failed.add("trips_policy")
    return failed


def _signature(query: QueryRecord, user: UserRecord) -> str:
    persona = user.explicit if query.subset != "environment" else None
    situation = query.environment if query.subset != "persona" else None
    text = " ".join(query.query.casefold().split())
    return json.dumps([query.subset, text, persona, situation], sort_keys=True, default=str)


async def run_verify(ctx: StageContext) -> None:
    from pertool.synth.stages.queries import run_all
    from pertool.synth.toolspectrum_writer import apps_of

    index = worlds(ctx)
    users = ctx.dir.read("users", UserRecord)
    solutions = ctx.dir.read("solutions", SolutionRecord)
    done = ctx.dir.read("verdicts", VerdictRecord)
    queries = ctx.dir.read("queries", QueryRecord)
    apps, described = apps_of(ctx.dir)
    policies = {p.key: p.text for w in index.values() for p in w.policies}
    seen: set[str] = set()
    jobs = []
    for key in sorted(queries):
        query = queries[key]
        world, user = index.get(query.scenario), users.get(query.user)
        if world is None or user is None:
            continue
        solution = solutions.get(key)
        failed = rule_failures(query, solution, world, user)
        signature = _signature(query, user)
        if signature in seen:
            failed.append("duplicate_query")
        elif not failed:
            seen.add(signature)  # verdicts already written count too, so a resume decides alike
        if key in done:
            continue
        if failed or solution is None:
            verify.reject(ctx, key, failed)
            continue
        shown = ts_assistant.assistant_inputs(query, user, world, apps, described.get(query.scenario, {}))
        inputs = ts_assistant.judge_inputs(shown, query, solution, policies.get(query.policy, ""))
        jobs.append(verify.judge(ctx, key, inputs, JUDGE_INSTRUCTIONS))
    await run_all(jobs)


JUDGE_INSTRUCTIONS = (
    "You judge one synthesized ToolSpectrum sample: the user's instruction (`instruction`), the "
    "persona and the environment shown with it (either may be null), the apps (descriptions and "
    "policies) and tools, and the assistant's `solution` (platform null with no calls is a "
    "refusal). `target_platform` is the app the sample was built for (null: a refusal is right, "
    "by the policy `policy`), `intended_tools` the API it was built for, `stated_values` the "
    "values the user meant to state. Score from 1 (worst) to 10 (best): `parameters`: are the "
    "argument values right for the instruction, the persona and the environment; "
    "`hallucination`: 10 when no app, API, parameter or value is invented; `solves`: does the "
    "answer (or the refusal) fulfil the instruction, and can the app be told from the persona or "
    "the environment shown."
)


# -- the scripted user agent ----------------------------------------------------------------------

_OPENINGS = (
    "Could you {action} for me?",
    "I'd like to {action}.",
    "Please {action}.",
    "Can you help me {action}?",
)
_FALLBACK = ("the usual one", "something simple", "the standard option", "whatever is quickest")


def _scripted_app(scenario: str) -> str:
    """The name of the scenario's first scripted app (stages/tools.py names them): the app a
    user who knows the brands might name."""
    from pertool.synth.stages.tools import SUFFIXES, camel

    stem = camel(scenario)
    return f"{stem[:1].upper()}{stem[1:]}{SUFFIXES[0]}"


def _scripted_query(inputs: dict[str, Any]) -> dict[str, Any]:
    """Values from each parameter's enum or examples (picked by a stable hash), stated as
    `the <parameter words> is "<value>"`. Wrong at the slots QUERY_SLOTS gives (by the query key,
    `sample`): one parameter forgotten (no value, not stated), one value left out of the text,
    one value outside its examples, a refusal quoting its policy, an app named, the situation
    described, the last earlier request of the subset repeated."""
    api = inputs.get("api") or {}
    # sha256, not crc32: crc32 of near-identical inputs is linear in their differences, so its
    # small residues are far from uniform.
    seed = int(hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12], 16)
    slot = ts_assistant.slot_of(str(inputs.get("sample", "")))
    fault = QUERY_SLOTS.get(slot) if slot is not None else None
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
    earlier = [str(q) for q in inputs.get("earlier") or []]
    if fault == "duplicate_query" and earlier:
        return {"query": earlier[-1], "values": values}  # repeats itself
    if values and fault == "value_missing":
        values.pop(sorted(values)[0])  # forgotten
    stated = dict(values)
    if stated and fault == "value_not_in_query":
        stated.pop(sorted(stated)[0])  # left out of the text
    specs = api.get("parameters") or {}
    ranged = [p for p in sorted(values) if specs[p].get("enum") or specs[p].get("examples")]
    if ranged and fault == "value_outside_examples":
        values[ranged[0]] = stated[ranged[0]] = "something else entirely"
    text = _OPENINGS[seed % len(_OPENINGS)].format(action=ts_assistant.words(str(api.get("name", "help"))))
    if stated:
        details = "; ".join(f'the {ts_assistant.words(p)} is "{_text(v)}"' for p, v in stated.items())
        text += f" {details[0].upper()}{details[1:]}."
    if inputs.get("policy") and fault == "quotes_policy":
        text += f' I know that "{inputs["policy"]}", but go ahead.'
    if fault == "names_app":
        text += f" I always use {_scripted_app(str(inputs.get('scenario', '')))} for this."
    if inputs.get("environment") and fault == "states_situation":
        text += f" Right now it is {', '.join(map(str, inputs['environment'].values()))}."
    return {"query": text, "values": values}


SCRIPTED = {"queries.toolspectrum": _scripted_query, **ts_assistant.SCRIPTED}
