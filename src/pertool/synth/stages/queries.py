"""Stage `queries`: the user agent writes the queries (PTool, paper section 4.3). The
ToolSpectrum mode (`environment: true`) writes its queries with stages/ts_samples.py instead.

For each user, `queries_per_user` queries, keyed "<user>/<i>". Each plan (`plan_query`) draws,
from the stage's seeded generator in a fixed order whether or not the key is already written (so
a resumed run draws the same plans):

- a scenario of the config; then, for `chain_share` of the queries where the scenario has
  chains (chains.jsonl), a ChainRecord (two APIs, called in order), else a condition (one of the
  scenario's API categories) and an API of it. The condition of a chain is its first API's;
- the target platform: the user's preference for that condition (`UserRecord.preferences`), or,
  for `need_share` of the queries, another platform singled out by a characteristic no other
  platform of the scenario shares: the query states that need in one of its declared phrasings
  (stages/needs.py, not the characteristic's value), and the need decides;
- the query-stated parameters (declared `x-source: query`): required ones always, optional ones
  half of the time; profile- and environment-sourced ones are never stated;
- the order the platforms are shown in (`platform_order`, shuffled per sample).

A plan whose user has no history record for its scenario and condition (the batch was
rejected in `histories`) is not asked for (rejected "no_history"): nothing would show the
preference it targets. Its draws are still made, so the other plans do not shift.

The user agent (task "queries.write") gets the persona (explicit and implicit features), the
API(s), the parameters to state with their examples, the condition or need, and its own earlier
queries, and answers {query, values}: it CHOOSES the values itself. Rules check the answer by
evidence, in this order (the first that fails is the reason it is rejected; a query whose
text is blank is no valid answer at all, asked again by the client):

    duplicate_query     the same text (normalized) as an earlier query of the user
    missing_value       a required query parameter without a value
    invalid_value       a value not of the parameter's type or outside its enum
    placeholder_value   a value that stands for one (`is_placeholder`: the parameter's words with a
                        number, "Restaurant 12", "Item_3", "CON-38631", "<...>", "TBD")
    value_not_in_query  a value that does not occur in the query text
    states_profile      a value or the text gives away a personal identifier of the profile (name,
                        address, phone, ...) or a profile value the API itself takes
    names_platform      the text names a platform of the scenario (the choice is the assistant's)
    need_not_stated     a need was asked for, the query contains none of its phrasings (the
                        user agent gets `need.phrasings`, ways to say it without quoting the
                        characteristic's value: stages/needs.py)

Output: queries.jsonl (QueryRecord with condition, need, apis in order, values, platform_order;
a need is {characteristic, value, phrasing}, the phrasing the query used). Working file:
query_rejections.jsonl (RejectionRecord), the keys rejected for good, so a resumed run neither
asks them again nor counts their rejection twice.
The helpers here (parameter sources, value text, scenarios) are shared with the later stages.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import zlib
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from pertool.synth.faults import fault_at, user_number
from pertool.synth.pipeline import StageContext
from pertool.synth.records import (
    ApiRecord,
    ChainRecord,
    HistoryRecord,
    PlatformRecord,
    QueryRecord,
    RejectionRecord,
    UserRecord,
)
from pertool.synth.stages.conditions import conditions_of, declared_source, preferred_for
from pertool.synth.stages.needs import phrasings, stated_phrasing
from pertool.synth.stages.tools import domain_of, is_identifier, stable
from pertool.synth.stages.tools import is_placeholder as names_a_placeholder
from pertool.values import normalize_text

__all__ = [
    "SCRIPTED", "QueryOutput", "Plan", "run", "run_all", "words", "phrase", "as_text", "occurs", "mentions",
    "leaves",
    "equals_any", "profile_feature", "environment_factor", "query_stated", "typed", "is_placeholder",
    "properties", "required", "platform_name", "history_of", "usual_platform", "distinct_traits",
    "scenario_index", "Scenario", "plan_query", "query_problem", "normalized_query",
]  # fmt: skip

OPTIONAL_SHARE = 0.5  # optional query-stated parameters the query states
REJECTIONS = "query_rejections"  # the working file of keys rejected for good

INSTRUCTIONS = (
    "You role-play the user whose persona is given: `persona.explicit` holds observable facts, "
    "`persona.implicit` latent preferences. Write ONE natural request to your personal assistant "
    "that the API(s) in `apis` serve (two: one request needing both, in order). Choose a value "
    "for each parameter in `state` that this person would really ask for, within its `examples` "
    "(or like them) and its enum, and state each one literally in the request; `required` ones "
    "always. Reply {query, values}: `values` maps each stated parameter to the value exactly as "
    "it appears in the query. Do not reveal any fact of your profile (name, addresses, phone, "
    "e-mail, payment method, sizes, preferences, ...) and do not name any of the `platforms`: "
    "the assistant knows your profile and history and chooses. The request is of the kind "
    "`condition`. If `need` is given, say that this time it matters most to you, using one of "
    "`need.phrasings` word for word (they say it without quoting the platform characteristic). "
    "Do not repeat any of your `earlier` requests."
)

# Parameter-name words that never decide which profile feature or factor a parameter names.
_GENERIC = frozenset(
    "a an the of for to from by in on at my your user users customer customers preferred default "
    "new current primary main date time day name type id number no count quantity amount item "
    "value size min max start end info detail details text option code".split()
)
# Words saying a parameter is about someone or somewhere else than the user.
_OTHER = frozenset(
    "destination origin departure arrival target source recipient receiver friend gift "
    "restaurant hotel store shop merchant seller vendor venue event airline".split()
)
_PERSON = frozenset("name full first last customer user contact guest passenger your my".split())


class QueryOutput(BaseModel):
    query: str = Field(min_length=1, pattern=r"\w")  # a blank text is no answer
    values: dict[str, Any] = Field(default_factory=dict)


# -- helpers shared by the stages ---------------------------------------------------------


def words(name: str) -> list[str]:
    """The lower-case words of an identifier: "deliveryAddress" and "delivery_address" -> both."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def phrase(name: str) -> str:
    return " ".join(words(name))


def as_text(value: Any) -> str:
    """How a value reads in text: booleans as true/false, whole floats without ".0"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def occurs(value: Any, text: str) -> bool:
    """The value's text occurs in `text` (case-insensitive substring; never for an empty value)."""
    needle = as_text(value).casefold().strip()
    return bool(needle) and needle in text.casefold()


def mentions(value: Any, text: str) -> bool:
    """The value's text occurs in `text` as whole words ("M" is not in "minimalist")."""
    needle = as_text(value).strip()
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.IGNORECASE) is not None


def leaves(data: Any) -> Iterator[Any]:
    """The scalar values of a nested profile or environment."""
    if isinstance(data, dict):
        for value in data.values():
            yield from leaves(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from leaves(value)
    elif data is not None:
        yield data


def equals_any(value: Any, data: Any) -> bool:
    """The value equals (case and whitespace aside) one of the scalars of `data`."""
    text = normalize_text(as_text(value))
    return bool(text) and any(normalize_text(as_text(leaf)) == text for leaf in leaves(data))


def _match(name: str, candidates: Sequence[str], people: bool = False) -> str | None:
    """The candidate (a feature or factor name) a parameter name refers to, or None: the same
    words, or words one contains of the other, or the same head word, sharing a word that is
    not generic ("address" -> "home_address", "contactPhone" -> "phone"; "date" names no
    "birth_date"). With `people`, a person's name ("customerName") names the feature "name"."""
    mine = words(name)
    if not mine:
        return None
    best: tuple[tuple[int, int, int], str] | None = None
    for candidate in candidates:
        theirs = words(candidate)
        shared = (set(mine) & set(theirs)) - _GENERIC
        if people and "name" in mine and "name" in theirs and set(mine) | set(theirs) <= _PERSON:
            shared = {"name"}
        if not theirs or not shared or (set(mine) - set(theirs)) & _OTHER:
            continue
        exact = mine == theirs
        left, right = set(mine) - _GENERIC, set(theirs) - _GENERIC
        nested = left <= right or right <= left
        if not (exact or nested or mine[-1] == theirs[-1]):
            continue
        rank = (int(exact), len(shared), -len(theirs))
        if best is None or rank > best[0] or (rank == best[0] and candidate < best[1]):
            best = (rank, candidate)
    return best[1] if best else None


def profile_feature(param: str, spec: dict[str, Any], explicit: dict[str, Any]) -> str | None:
    """The explicit feature a parameter is supplied from, or None. The API's declared `x-source`
    decides (a "profile:<feature>" the user lacks supplies nothing); only a hand-written spec
    without one is matched by name."""
    declared = declared_source(spec)
    if declared is not None:
        kind, name = declared
        return name if kind == "profile" and name in explicit else None
    usable = [k for k, v in explicit.items() if v is not None and not isinstance(v, (dict, list))]
    return _match(param, usable, people=True)


def environment_factor(param: str, environment: dict[str, Any] | None,
                       spec: dict[str, Any] | None = None) -> str | None:  # fmt: skip
    """The environment factor a parameter takes its value from, or None (declared first)."""
    declared = declared_source(spec or {})
    if declared is not None:
        kind, name = declared
        return name if kind == "environmental" and environment and name in environment else None
    return _match(param, list(environment)) if environment else None


def query_stated(param: str, spec: dict[str, Any], explicit: dict[str, Any]) -> bool:
    """The user states this parameter's value in the query (declared "query", or undeclared and
    naming no profile feature)."""
    declared = declared_source(spec)
    if declared is not None:
        return declared[0] == "query"
    return profile_feature(param, spec, explicit) is None and environment_factor(param, None) is None


_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                       "boolean": (bool,), "array": (list,), "object": (dict,),
                                       "null": (type(None),)}  # fmt: skip


def typed(value: Any, spec: dict[str, Any]) -> bool:
    """The value is of the parameter's declared JSON type (a bool is no number)."""
    kinds = spec.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    known = [k for k in kinds if k in _TYPES]
    if not known:  # no type, or one we do not check
        return True
    return any(isinstance(value, _TYPES[k]) and (not isinstance(value, bool) or k == "boolean")
               for k in known)  # fmt: skip


_CODE = re.compile(r"[A-Z]{2,6}-\d{3,}")
_FILLER = re.compile(r"<[^>]*>|\b(placeholder|tbd|todo|xxx+|lorem ipsum|example value|sample value)\b",
                     re.IGNORECASE)


def is_placeholder(value: Any, param: str, spec: dict[str, Any]) -> bool:
    """A value that stands for one instead of being one, never one of the parameter's examples:
    the parameter's words (or their starts) with a number ("cuisine 51", "Restaurant 12" for
    restaurant_name, "Item_3", "Class 2" for cabin_class, the tools stage's rule), a code
    "<PREFIX>-<digits>" ("CON-38631"), "<...>", "TBD". The one definition the queries rule and
    `pertool synth stats` share."""
    if not isinstance(value, str):
        return False
    known = [v for key in ("examples", "enum") if isinstance(spec.get(key), list) for v in spec[key]]
    if value in known:
        return False
    text = " ".join(value.split())
    return bool(names_a_placeholder(param, text) or _CODE.fullmatch(text) or _FILLER.search(text))


def properties(function: dict[str, Any]) -> dict[str, dict[str, Any]]:
    props = (function.get("parameters") or {}).get("properties") or {}
    return {str(k): v if isinstance(v, dict) else {} for k, v in props.items()}


def required(function: dict[str, Any]) -> list[str]:
    return [str(p) for p in (function.get("parameters") or {}).get("required") or []]


def platform_name(value: str, scenario: str) -> str:
    """A platform's name, whether written as the name or as its key "<scenario>/<name>"."""
    return value[len(scenario) + 1 :] if value.startswith(f"{scenario}/") else value


def history_of(histories: dict[str, HistoryRecord], user: str, scenario: str) -> list[HistoryRecord]:
    """A user's history records of one scenario, in the order of their keys' numbers."""
    records = [h for h in histories.values() if h.user == user and h.scenario == scenario]
    return sorted(records, key=lambda h: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", h.key)])


def usual_platform(names: Sequence[str], used: Sequence[str]) -> str | None:
    """The platform of `names` used most often (ties: the earlier in `names`), or None."""
    counts = Counter(u for u in used if u in names)
    if not counts:
        return None
    return max(names, key=lambda n: (counts[n], -names.index(n)))


def distinct_traits(platform: PlatformRecord | dict[str, Any],
                    others: Sequence[PlatformRecord | dict[str, Any]]) -> list[tuple[str, str]]:  # fmt: skip
    """The characteristics (name, value) of a platform that no other platform shares."""
    name, mine = _traits(platform)
    rest = [_traits(o)[1] for o in others if _traits(o)[0] != name]
    return [(k, v) for k, v in sorted(mine.items()) if str(v).strip()
            and all(normalize_text(str(r.get(k, ""))) != normalize_text(str(v)) for r in rest)]  # fmt: skip


def _traits(platform: PlatformRecord | dict[str, Any]) -> tuple[str, dict[str, str]]:
    if isinstance(platform, PlatformRecord):
        return platform.name, platform.characteristics
    return platform["name"], platform["characteristics"]


@dataclass
class Scenario:
    platforms: list[PlatformRecord]
    apis: list[ApiRecord]
    chains: list[ChainRecord] = field(default_factory=list)  # whose APIs both exist

    def platform(self, name: str) -> PlatformRecord | None:
        return next((p for p in self.platforms if p.name == name), None)

    def api(self, key: str) -> ApiRecord | None:
        return next((a for a in self.apis if a.key == key), None)

    @property
    def conditions(self) -> list[str]:
        return conditions_of(self.apis)


def scenario_index(ctx: StageContext) -> dict[str, Scenario]:
    """The config's scenarios that have platforms and APIs, with them (and their chains) in key order."""
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    chains = ctx.dir.read("chains", ChainRecord)
    index = {}
    for scenario in ctx.config.scenarios:
        plats = sorted((p for p in platforms.values() if p.scenario == scenario.name), key=lambda p: p.key)
        leaves_ = sorted((a for a in apis.values() if a.scenario == scenario.name), key=lambda a: a.key)
        links = sorted((c for c in chains.values() if c.scenario == scenario.name and len(c.apis) == 2
                        and all(k in apis for k in c.apis)), key=lambda c: c.key)  # fmt: skip
        if plats and leaves_:
            index[scenario.name] = Scenario(plats, leaves_, links)
    return index


async def run_all(jobs: Sequence[Awaitable[None]]) -> None:
    """Run the jobs concurrently (the LLM client bounds how many calls are in flight); on the
    first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


_SHOWN = ("type", "description", "enum", "examples")  # what the user agent sees of a parameter

# -- the stage ----------------------------------------------------------------------------


@dataclass
class Plan:
    """What one query is to be: drawn before the user agent writes it."""

    key: str
    index: int
    user: UserRecord
    scenario: str
    apis: list[ApiRecord]  # in call order (two for a chain)
    condition: str
    platform: PlatformRecord  # the target
    need: dict[str, str] | None
    state: dict[str, dict[str, Any]]  # the query-stated parameters: name -> spec
    required: list[str]  # of `state`, those a call cannot do without
    platform_order: list[str]


async def run(ctx: StageContext) -> None:
    if ctx.config.environment:  # ToolSpectrum mode (ts): stages/ts_samples.py
        from pertool.synth.stages.ts_samples import run_queries

        return await run_queries(ctx)
    index = scenario_index(ctx)
    users = ctx.dir.read("users", UserRecord)
    done = ctx.dir.read("queries", QueryRecord)
    if not index:
        return
    shown = {(h.user, h.scenario, h.condition) for h in ctx.dir.read("histories", HistoryRecord).values()}
    finished = set(done) | set(ctx.dir.read(REJECTIONS, RejectionRecord))
    rng = ctx.rng
    per_user: list[list[Plan]] = []
    for user in sorted(users.values(), key=lambda u: u.key):
        plans = [plan_query(f"{user.key}/{i}", i, user, index, ctx.config.chain_share, ctx.config.need_share,
                            rng) for i in range(ctx.config.queries_per_user)]  # fmt: skip
        for plan in plans:  # drawn all the same, so that the plans after them do not shift
            if plan.key not in finished and (user.key, plan.scenario, plan.condition) not in shown:
                _reject(ctx, plan.key, "no_history")
                finished.add(plan.key)
        per_user.append(plans)
    await run_all([_write_user(ctx, plans, done, finished) for plans in per_user])


def _reject(ctx: StageContext, key: str, reason: str, counted: bool = True) -> None:
    """Count the rejection (unless the client did) and keep it, so a resume skips the key."""
    if counted:
        ctx.stats.rejected[reason] += 1
    ctx.write(REJECTIONS, RejectionRecord(key=key, reasons=[reason]))


def plan_query(key: str, index: int, user: UserRecord, scenarios: dict[str, Scenario], chain_share: float,
               need_share: float, rng: random.Random) -> Plan:  # fmt: skip
    """One query's plan: scenario, API(s) and condition, target platform or need, parameters to
    state, platform order. Every draw happens whatever the outcome, so plans never shift."""
    scenario = rng.choice(sorted(scenarios))
    spec = scenarios[scenario]
    chained = rng.random() < chain_share
    if chained and spec.chains:
        chain = rng.choice(spec.chains)
        apis = [a for a in (spec.api(k) for k in chain.apis) if a is not None]
    else:
        condition = rng.choice(spec.conditions)
        apis = [rng.choice([a for a in spec.apis if a.category == condition])]
    condition = apis[0].category
    names = [p.name for p in spec.platforms]
    target = preferred_for(user, scenario, condition)
    fallback = rng.choice(names)
    target = target if target in names else fallback
    need = None
    if rng.random() < need_share:
        options = [(p.name, k, v) for p in spec.platforms if p.name != target
                   for k, v in distinct_traits(p, spec.platforms)]  # fmt: skip
        if options:
            target, trait, value = rng.choice(options)
            need = {"characteristic": trait, "value": value}
    platform = spec.platform(target)
    assert platform is not None
    state: dict[str, dict[str, Any]] = {}
    must: list[str] = []
    for api in apis:
        for param, pspec in sorted(properties(api.function).items()):
            if param in state or not query_stated(param, pspec, user.explicit):
                continue
            is_required = param in required(api.function)
            if rng.random() < OPTIONAL_SHARE or is_required:
                state[param] = {k: pspec[k] for k in _SHOWN if k in pspec}
                must += [param] if is_required else []
    order = rng.sample(names, len(names))
    return Plan(key, index, user, scenario, apis, condition, platform, need, state, must, order)


def write_inputs(plan: Plan, earlier: list[str]) -> dict[str, Any]:
    """What the user agent sees."""
    user = plan.user
    return {
        "user": user.key, "index": plan.index, "scenario": plan.scenario,
        "persona": {"explicit": user.explicit, "implicit": user.implicit.get(plan.scenario, user.implicit)},
        "apis": [{k: a.function.get(k) for k in ("name", "description", "parameters")} for a in plan.apis],
        "state": plan.state, "required": plan.required, "condition": plan.condition,
        "need": None if plan.need is None else {**plan.need, "phrasings": need_phrasings(plan.need)},
        "earlier": earlier, "platforms": sorted(plan.platform_order),
    }  # fmt: skip


async def _write_user(ctx: StageContext, plans: list[Plan], done: dict[str, QueryRecord],
                      finished: set[str]) -> None:  # fmt: skip
    """One user's queries in order: each sees the ones before it (not to repeat them)."""
    earlier: list[str] = []
    for plan in plans:
        if plan.key in done:
            earlier.append(done[plan.key].query)
        if plan.key in finished:
            continue
        inputs = write_inputs(plan, earlier)
        out = await ctx.llm.ask("queries.write", INSTRUCTIONS, inputs, QueryOutput, ctx.stats)
        if out is None:  # counted as "invalid_output" by the client
            _reject(ctx, plan.key, "invalid_output", counted=False)
            continue
        text = " ".join(out.query.split())
        values = {p: v for p, v in out.values.items() if p in plan.state}
        problem = query_problem(plan, text, values, earlier)
        if problem:
            _reject(ctx, plan.key, problem)
            continue
        earlier.append(text)
        ctx.stats.accepted += 1
        ctx.write("queries", QueryRecord(
            key=plan.key, user=plan.user.key, scenario=plan.scenario, platform=plan.platform.name,
            apis=[a.key for a in plan.apis], query=text, condition=plan.condition,
            need=_stored_need(plan, text), values=values, platform_order=plan.platform_order))  # fmt: skip


def normalized_query(text: str) -> str:
    """A query's text for duplicate checks: case, punctuation and spacing aside."""
    return " ".join(re.findall(r"[\w']+", text.casefold()))


def query_problem(plan: Plan, text: str, values: dict[str, Any], earlier: Sequence[str]) -> str | None:
    """Why the user agent's answer is rejected (the first rule it fails), or None."""
    if normalized_query(text) in {normalized_query(e) for e in earlier}:
        return "duplicate_query"
    if any(p not in values for p in plan.required):
        return "missing_value"
    if any(not typed(v, plan.state[p]) or ("enum" in plan.state[p] and v not in plan.state[p]["enum"])
           for p, v in values.items()):  # fmt: skip
        return "invalid_value"
    if any(is_placeholder(v, p, plan.state[p]) for p, v in values.items()):
        return "placeholder_value"
    if any(not occurs(v, text) for v in values.values()):
        return "value_not_in_query"
    if _gives_away(plan, text, values):
        return "states_profile"
    if any(mentions(name, text) for name in plan.platform_order):
        return "names_platform"
    if plan.need and stated_phrasing(need_phrasings(plan.need), text) is None:
        return "need_not_stated"
    return None


def _stored_need(plan: Plan, text: str) -> dict[str, str] | None:
    """The planned need with the phrasing the query used."""
    if plan.need is None:
        return None
    return {**plan.need, "phrasing": stated_phrasing(need_phrasings(plan.need), text) or ""}


def need_phrasings(need: dict[str, str]) -> list[str]:
    """The ways a query may state a planned need (stages/needs.py)."""
    return phrasings(need["characteristic"], need["value"])


def _gives_away(plan: Plan, text: str, values: dict[str, Any]) -> bool:
    """The text states a personal identifier of the profile, or a value equals one of those or
    a profile value the plan's APIs take from the profile."""
    explicit = plan.user.explicit
    taken = {f for a in plan.apis for p, s in properties(a.function).items()
             if (f := profile_feature(p, s, explicit)) is not None}  # fmt: skip
    secret = [v for k, v in explicit.items() if is_identifier(k) or k in taken]
    if any(equals_any(v, secret) for v in values.values()):
        return True
    return any(isinstance(v, str) and len(v.strip()) >= 5 and occurs(v, text)
               for k, v in explicit.items() if is_identifier(k))  # fmt: skip


# -- the scripted user agent --------------------------------------------------------------

_OPENINGS = ("Could you {action} for me?", "I'd like to {action}.", "Please {action}.",
             "Can you help me {action}?")  # fmt: skip
_NEED_FRAMES = ("{p}.", "This time {p}.", "Oh, and {p}.", "One thing matters most this time: {p}.")


def _candidates(param: str, spec: dict[str, Any], scenario: str) -> list[Any]:
    for key in ("enum", "examples"):
        if isinstance(spec.get(key), list) and spec[key]:
            return list(spec[key])
    kind = spec.get("type")
    if kind == "boolean":
        return [True, False]
    if kind in ("integer", "number"):
        return [1, 2, 3, 4]
    return list(domain_of(scenario).items)


def _scripted_text(inputs: dict[str, Any], values: dict[str, Any], need: dict[str, str] | None) -> str:
    actions = [phrase(str(a["name"])) for a in inputs.get("apis") or []]
    seed = zlib.crc32(json.dumps([actions, values], sort_keys=True, default=str).encode())
    text = _OPENINGS[seed % len(_OPENINGS)].format(action=" and then ".join(actions))
    if values:
        details = "; ".join(f'the {phrase(p)} is "{as_text(v)}"' for p, v in values.items())
        text += f" {details[0].upper()}{details[1:]}."
    if need and need.get("quoted"):  # the planned fault: the characteristic quoted, not phrased
        text += f" The {need['value']} {need['characteristic']} matters most to me this time."
    elif need:
        options = need.get("phrasings") or [f"{need['characteristic']} should be {need['value']}"]
        pick = stable(f"{inputs.get('user')}/{inputs.get('index')}:need")
        said = _NEED_FRAMES[pick % len(_NEED_FRAMES)].format(p=options[(pick // 7) % len(options)])
        text += f" {said[0].upper()}{said[1:]}"
    return text


def _scripted_write(inputs: dict[str, Any]) -> dict[str, Any]:
    """Values chosen among each parameter's examples (another choice while the text repeats an
    earlier query), stated as `the <parameter words> is "<value>"`, the need in one of its
    phrasings within one of a few sentences. Wrong on purpose (faults.py) at the planned slots,
    and for one in six stated needs of numbered users (the characteristic quoted instead)."""
    user, index, scenario = str(inputs.get("user")), inputs.get("index"), str(inputs.get("scenario"))
    state: dict[str, dict[str, Any]] = inputs.get("state") or {}
    earlier = {normalized_query(e) for e in inputs.get("earlier") or []}
    need = inputs.get("need")
    fault = fault_at(f"{user}/{index}")
    if need and not fault and user_number(user) is not None and stable(f"{user}/{index}:quoted") % 6 == 0:
        need = {**need, "quoted": True}  # not where faults.py plans another fault, which it would hide
    values: dict[str, Any] = {}
    for attempt in range(6):
        values = {}
        for param, spec in state.items():
            options = _candidates(param, spec, scenario)
            values[param] = options[stable(f"{user}/{index}:{param}:{attempt}") % len(options)]
        if normalized_query(_scripted_text(inputs, values, need)) not in earlier:
            break
    if fault == "duplicate_query" and inputs.get("earlier"):
        return {"query": inputs["earlier"][-1], "values": {}}
    stated = dict(values)
    texts = [p for p, s in state.items() if s.get("type") in ("string", None) and "enum" not in s]
    explicit = (inputs.get("persona") or {}).get("explicit") or {}
    first = texts[0] if texts else None
    if fault == "missing_value" and inputs.get("required"):
        stated.pop(inputs["required"][0], None)
        values = dict(stated)
    elif fault == "value_not_in_query" and first:
        values[first] = f"{as_text(values[first])} deluxe edition"
    elif fault == "placeholder_value" and first:
        stated[first] = values[first] = f"{phrase(first)} {stable(user) % 90 + 10}"
    elif fault == "invalid_value" and (listed := [p for p, s in state.items() if s.get("enum")]):
        stated[listed[0]] = values[listed[0]] = f"{as_text(values[listed[0]])} plus"  # outside the enum
    elif fault == "invalid_value" and first:
        stated[first] = values[first] = 12345
    elif fault in ("states_profile", "reveals_profile") and first:
        personal = fault == "states_profile"
        leak = next((v for k, v in sorted(explicit.items()) if isinstance(v, str) and len(v) >= 4
                     and is_identifier(k) == personal and not v.isdigit()), None)  # fmt: skip
        if leak is not None:
            stated[first] = values[first] = leak
    text = _scripted_text(inputs, stated, need)
    if fault == "names_platform" and inputs.get("platforms"):
        names = inputs["platforms"]
        text += f" Use {names[stable(user) % len(names)]} for it."
    return {"query": text, "values": values}


SCRIPTED = {"queries.write": _scripted_write}
