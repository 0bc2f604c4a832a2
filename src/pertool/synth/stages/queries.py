"""Stage `queries`: the user agent writes the queries (PTool, paper section 4.3; environment and
policy samples in the style of ToolSpectrum when the config asks for them).

For each user, `queries_per_user` queries, keyed "<user>/<i>". Each draws (from the stage's seeded
generator, in a fixed order, whether or not the key is already written, so a resumed run draws
the same plans):

- a scenario of the config and one of its APIs;
- the target platform: the user's preferred platform for the scenario (found in the implicit
  features; the platform most used in the history when they name none), or, for NEED_SHARE of
  the queries, another platform singled out by a characteristic no other platform of the
  scenario shares: the query states that need, and the need decides;
- concrete values for the API's query-stated parameters. A parameter is profile-supplied when
  it names one of the user's explicit features (`profile_feature`), environmental when it names
  a factor of the query's environment, query-stated otherwise; required ones always, optional
  ones half of the time;
- with `environment` on: an environment (weather, network, battery, ...) for ENVIRONMENT_SHARE
  of the queries, and for VIOLATION_SHARE an instruction that breaks one of the target
  platform's policies (`violates_policy`; its gold is a refusal).

The user agent (task "queries.write") gets the whole profile (explicit and implicit), the target
platform, the API and the values to state, and is told to state those verbatim and reveal no
profile fact and not the platform. The helpers here (parameter roles, value text, preferred
platform) are shared with the `solutions` and `verify` stages.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import zlib
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, HistoryRecord, PlatformRecord, QueryRecord, UserRecord
from pertool.values import normalize_text

__all__ = [
    "SCRIPTED", "QueryOutput", "run", "run_all", "words", "phrase", "as_text", "occurs", "leaves",
    "equals_any", "profile_feature", "environment_factor", "properties", "required", "platform_name",
    "history_of", "usual_platform", "preferred_platform", "distinct_traits", "scenario_index", "Scenario",
    "choose_value",
]  # fmt: skip

NEED_SHARE = 0.25  # queries whose stated need decides the platform
OPTIONAL_SHARE = 0.5  # optional query-stated parameters the query states
ENVIRONMENT_SHARE = 0.5  # with `environment`: queries made in a described situation
VIOLATION_SHARE = 0.25  # with `environment`: queries breaking a policy of the target platform
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "weather": ("sunny", "heavy rain", "snowstorm", "heatwave", "strong wind"),
    "network": ("home wifi", "weak mobile signal", "metered roaming data", "fast office network"),
    "battery": ("8% battery", "35% battery", "fully charged"),
    "accessibility": ("screen reader on", "large text mode", "voice control"),
    "time_of_day": ("early morning", "lunchtime", "late evening", "past midnight"),
    "location": ("at home", "at the office", "on a train", "at the airport"),
}  # fmt: skip

INSTRUCTIONS = (
    "You role-play the user whose profile is given: `profile.explicit` holds observable facts, "
    "`profile.implicit` latent preferences. Write ONE natural request to your personal assistant "
    "that is served by the API `api` on the platform `platform`. State every value in `state` "
    "verbatim (exactly as written there). Do not reveal any fact of your profile (name, "
    "addresses, phone, e-mail, payment method, sizes, preferences, ...) and do not name the "
    "platform: the assistant knows your profile and history and must work them out. If `need` "
    "is given, say that this time its characteristic matters most, using its value verbatim. "
    "`environment`, if given, is the situation you are in: do not describe it. If "
    "`violate_policy` is given, the request must break that policy of the platform, in the way "
    "your profile makes real (e.g. your age, your location). Reply with the request only."
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
_VOCAB: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = tuple(
    (frozenset(hints.split()), values) for hints, values in (
        ("item product products goods gift article", ("wireless earbuds", "ceramic teapot", "running shoes",
         "desk lamp", "yoga mat", "coffee grinder", "rain jacket", "board game")),
        ("dish dishes food meal meals menu", ("pad thai", "margherita pizza", "chicken biryani", "miso ramen",
         "falafel wrap", "caesar salad")),
        ("keyword keywords query search term", ("noise-cancelling headphones", "standing desk",
         "espresso machine", "hiking backpack")),
        ("restaurant", ("Golden Lotus", "Trattoria Sole", "Casa Verde", "Blue Fin Sushi")),
        ("store shop merchant seller vendor", ("Corner Hardware", "Riverside Books", "Daily Greens")),
        ("hotel accommodation", ("Harbor View Inn", "Alpine Lodge", "Grand Meridian Hotel")),
        ("destination arrival city", ("Lisbon", "Kyoto", "Vancouver", "Cape Town", "Reykjavik")),
        ("origin departure", ("Boston", "Madrid", "Osaka", "Melbourne")),
        ("movie film show series episode", ("The Silent Orbit", "Paper Lanterns", "Northern Lights Express")),
        ("song track album artist playlist music", ("Midnight Tide", "Golden Hour Sessions", "Blue Static")),
        ("book author", ("The Glass Orchard", "Rivers of Salt", "A Map of Quiet Places")),
        ("event concert ticket tickets", ("spring jazz night", "city marathon", "open-air opera")),
        ("brand", ("Northwind", "Acorn & Co", "Lumen")),
        ("color colour", ("navy blue", "forest green", "charcoal grey")),
        ("category genre kind", ("electronics", "home and kitchen", "outdoor gear", "stationery")),
        ("message note comment instruction instructions request", ("please ring the bell twice",
         "leave it with the concierge", "no cutlery needed")),
        ("location place spot pickup meeting", ("the north entrance", "gate B", "the hotel lobby")),
        ("coupon promo voucher discount", ("SPRING10", "WELCOME5", "FREESHIP")),
        ("title subject topic", ("quarterly planning", "team lunch", "project kickoff")),
    )
)  # fmt: skip


class QueryOutput(BaseModel):
    query: str = Field(min_length=1)


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
    """The explicit feature a parameter is supplied from, or None (a query-stated parameter).
    A spec may say it outright: `"x-source": "profile:<feature>"` or `"x-source": "query"`."""
    source = str(spec.get("x-source", "")) if isinstance(spec, dict) else ""
    if source.startswith("profile:") and source[8:] in explicit:
        return source[8:]
    if source == "query":
        return None
    usable = [k for k, v in explicit.items() if v is not None and not isinstance(v, (dict, list))]
    return _match(param, usable, people=True)


def environment_factor(param: str, environment: dict[str, Any] | None) -> str | None:
    """The environment factor a parameter takes its value from, or None."""
    return _match(param, list(environment)) if environment else None


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


def preferred_platform(implicit: dict[str, Any], scenario: str, names: Sequence[str],
                       history: Sequence[HistoryRecord]) -> str | None:  # fmt: skip
    """The user's preferred platform for a scenario: a platform named among the implicit
    features (best under a key naming the scenario, then one about platforms or preferences),
    else the one most used in the history, else None."""
    best: tuple[int, str] | None = None
    for path, value in _paths(implicit, ()):
        if not isinstance(value, str):
            continue
        name = next((n for n in names if platform_name(value, scenario).casefold() == n.casefold()), None)
        if name is None:
            continue
        where = " ".join(path).casefold()
        score = 2 * (scenario.casefold() in where) + any(w in where for w in ("platform", "prefer", "favo"))
        if best is None or score > best[0]:
            best = (score, name)
    if best is not None:
        return best[1]
    return usual_platform(names, [platform_name(h.platform, scenario) for h in history])


def _paths(data: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*path, str(key)))
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from _paths(value, path)
    else:
        yield path, data


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

    def platform(self, name: str) -> PlatformRecord | None:
        return next((p for p in self.platforms if p.name == name), None)


def scenario_index(ctx: StageContext) -> dict[str, Scenario]:
    """The config's scenarios that have platforms and APIs, with them in key order."""
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    index = {}
    for scenario in ctx.config.scenarios:
        plats = sorted((p for p in platforms.values() if p.scenario == scenario.name), key=lambda p: p.key)
        leaves_ = sorted((a for a in apis.values() if a.scenario == scenario.name), key=lambda a: a.key)
        if plats and leaves_:
            index[scenario.name] = Scenario(plats, leaves_)
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


# -- the stage ----------------------------------------------------------------------------


@dataclass
class _Plan:
    key: str
    user: UserRecord
    scenario: str
    api: ApiRecord
    platform: PlatformRecord
    state: dict[str, Any]
    need: dict[str, str] | None
    environment: dict[str, str] | None
    violate: str | None


async def run(ctx: StageContext) -> None:
    if ctx.config.environment:  # ToolSpectrum mode (ts): stages/ts_samples.py
        from pertool.synth.stages.ts_samples import run_queries

        return await run_queries(ctx)
    index = scenario_index(ctx)
    users = ctx.dir.read("users", UserRecord)
    histories = ctx.dir.read("histories", HistoryRecord)
    done = ctx.dir.read("queries", QueryRecord)
    if not index:
        return
    rng = ctx.rng
    jobs = []
    for user in sorted(users.values(), key=lambda u: u.key):
        for i in range(ctx.config.queries_per_user):
            plan = _plan(f"{user.key}/{i}", user, index, histories, ctx.config.environment, rng)
            if plan.key not in done:
                jobs.append(_write(ctx, plan))
    await run_all(jobs)


def _plan(key: str, user: UserRecord, index: dict[str, Scenario], histories: dict[str, HistoryRecord],
          environment: bool, rng: random.Random) -> _Plan:  # fmt: skip
    scenario = rng.choice(sorted(index))
    spec = index[scenario]
    api = rng.choice(spec.apis)
    names = [p.name for p in spec.platforms]
    target = preferred_platform(user.implicit, scenario, names, history_of(histories, user.key, scenario))
    if target is None:
        target = rng.choice(names)
    need = None
    if rng.random() < NEED_SHARE:
        options = [(p.name, k, v) for p in spec.platforms if p.name != target
                   for k, v in distinct_traits(p, spec.platforms)]  # fmt: skip
        if options:
            target, trait, value = rng.choice(options)
            need = {"characteristic": trait, "value": value}
    platform = spec.platform(target)
    assert platform is not None
    env = violate = None
    if environment:
        if rng.random() < ENVIRONMENT_SHARE:
            env = {f: rng.choice(ENVIRONMENT[f]) for f in sorted(rng.sample(sorted(ENVIRONMENT), 3))}
        if platform.policy and rng.random() < VIOLATION_SHARE:
            violate = rng.choice(platform.policy)
    state: dict[str, Any] = {}
    must = set(required(api.function))
    for param, pspec in sorted(properties(api.function).items()):
        if profile_feature(param, pspec, user.explicit) or environment_factor(param, env):
            continue
        if param not in must and rng.random() >= OPTIONAL_SHARE:
            continue
        value = choose_value(param, pspec, user.explicit, rng)
        if value is not None:
            state[param] = value
    return _Plan(key, user, scenario, api, platform, state, need, env, violate)


def choose_value(param: str, spec: dict[str, Any], explicit: dict[str, Any], rng: random.Random) -> Any:
    """A concrete value for a query-stated parameter (None: a kind we do not state, e.g. an
    array); redrawn while it equals a profile value, so provenance stays unambiguous."""
    value = None
    for _ in range(5):
        value = _draw(param, spec, rng)
        if value is None or not equals_any(value, explicit):
            break
    return value


def _draw(param: str, spec: dict[str, Any], rng: random.Random) -> Any:
    kind = spec.get("type")
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return rng.choice(spec["enum"])
    examples = spec.get("examples")
    if isinstance(examples, list) and examples and all(isinstance(e, (str, int, float)) for e in examples):
        return rng.choice(examples)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("integer", "number"):
        low = int(spec.get("minimum", 1))
        high = int(spec.get("maximum", low + 4 if kind == "integer" else low + 199))
        return rng.randint(low, max(low, high))
    if kind not in ("string", None):
        return None
    names = set(words(param))
    if spec.get("format") in ("date", "date-time") or names & {"date", "day", "deadline", "checkin"}:
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if names & {"time", "hour"}:
        return f"{rng.randint(7, 21):02d}:{rng.choice(('00', '15', '30', '45'))}"
    if names & {"id", "number", "code", "reference"} and not names & {"coupon", "promo", "voucher"}:
        return f"{(words(param)[0][:3]).upper()}-{rng.randint(10000, 99999)}"
    for hints, values in _VOCAB:
        if names & hints:
            return rng.choice(values)
    return f"{phrase(param)} {rng.randint(2, 99)}"


async def _write(ctx: StageContext, plan: _Plan) -> None:
    user = plan.user
    inputs = {
        "scenario": plan.scenario,
        "platform": {"name": plan.platform.name, "characteristics": plan.platform.characteristics},
        "api": {k: plan.api.function.get(k) for k in ("name", "description", "parameters")},
        "state": plan.state,
        "need": plan.need,
        "profile": {"explicit": user.explicit, "implicit": user.implicit},
        "environment": plan.environment,
        "violate_policy": plan.violate,
    }
    out = await ctx.llm.ask("queries.write", INSTRUCTIONS, inputs, QueryOutput, ctx.stats)
    if out is None:  # counted as "invalid_output" by the client
        return
    ctx.stats.accepted += 1
    ctx.write("queries", QueryRecord(
        key=plan.key, user=user.key, scenario=plan.scenario, platform=plan.platform.name,
        apis=[plan.api.key], query=out.query.strip(), environment=plan.environment,
        violates_policy=plan.violate is not None))  # fmt: skip


# -- the scripted user agent --------------------------------------------------------------

_OPENINGS = ("Could you {action} for me?", "I'd like to {action}.", "Please {action}.",
             "Can you help me {action}?")  # fmt: skip


def _scripted_write(inputs: dict[str, Any]) -> dict[str, Any]:
    """A query stating each value as `the <parameter words> is "<value>"`, the need as `<name>
    should be <value>`, a policy to break quoted; no profile value, no platform name."""
    state = inputs.get("state") or {}
    seed = zlib.crc32(json.dumps(inputs.get("api", {}).get("name"), sort_keys=True).encode()
                      + json.dumps(state, sort_keys=True).encode())  # fmt: skip
    text = _OPENINGS[seed % len(_OPENINGS)].format(action=phrase(str(inputs["api"]["name"])))
    if state:
        parts = [f'the {phrase(p)} is "{as_text(v)}"' for p, v in state.items()]
        details = "; ".join(parts)
        text += f" {details[0].upper()}{details[1:]}."
    need = inputs.get("need")
    if need:
        text += f" What matters most to me this time: {need['characteristic']} should be {need['value']}."
    if inputs.get("violate_policy"):
        text += f' I know the rule says "{inputs["violate_policy"]}", but please make an exception for me.'
    return {"query": text}


SCRIPTED = {"queries.write": _scripted_write}
