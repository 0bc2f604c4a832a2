"""Behaviour histories and query/solution pairs, sampled from each user's hidden preferences.

History: for every scenario and category, a few actions on the platform the user prefers for
that category ("Bought wireless earbuds" on MegaMart): they reveal the preference without
stating it. Queries: an API (or a natural chain of APIs) and one of its phrasings; the item,
half of the time one the user already has in the history; query values stated in the text;
profile values left out. The gold platform is the user's preference for the query's category,
unless the query states a need ("by today", "as cheaply as possible"), which decides it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pertool.builtin.catalog import Api, Scenario
from pertool.builtin.users import User
from pertool.schema import GoldCall, Provenance

__all__ = ["Draft", "history_for", "draft_query", "ACTIONS"]

ACTIONS = {
    "shopping": ["Bought {item}", "Ordered {item} and kept it", "Reordered {item}"],
    "takeout": ["Ordered {item} for dinner", "Had {item} delivered", "Rated the {item} highly"],
    "entertainment": ["Got {item}", "Enjoyed {item}", "Spent an evening on {item}"],
    "work": ["Ordered {item} for the office", "Requested {item} for the team", "Reordered {item}"],
    "travel": ["Booked {item}", "Arranged {item}", "Paid for {item}"],
}
RECORDS_PER_CATEGORY = (2, 3)
SEEN_ITEM_SHARE = 0.5  # queries about an item already in the history (a reorder, a rebooking)
NEED_SHARE = 0.25  # queries that state a need deciding the platform whatever the history
CHAIN_SHARE = 0.15  # queries whose natural solution is several calls
CONTEXT_SHARE = 0.8  # queries naming an item or category (the rest: order ids, dates, ...)


@dataclass
class Draft:
    """A query with its solution, before verification."""

    scenario: str
    category: str | None  # None when the query names no item or category
    need: str | None
    query: str
    platform: str
    calls: list[GoldCall]


def history_for(
    user: User, scenario: Scenario, rng: random.Random, per_category: tuple[int, int] = RECORDS_PER_CATEGORY
) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    """History records of one scenario (`per_category` records, min and max, of each category),
    and the items they mention per category."""
    records, seen = [], {}
    verbs = ACTIONS.get(scenario.scenario, ["Used it for {item}"])
    for category, spec in scenario.categories.items():
        platform = user.preferences[scenario.scenario][category]
        items = rng.sample(spec.items, rng.randint(*per_category))
        seen[category] = items
        records += [{"platform": platform, "action": rng.choice(verbs).format(item=item)} for item in items]
    rng.shuffle(records)
    return records, seen


def draft_query(user: User, scenario: Scenario, seen: dict[str, list[str]], rng: random.Random) -> Draft:
    category = rng.choice(sorted(scenario.categories))
    items = scenario.categories[category].items
    unseen = [i for i in items if i not in seen[category]]
    item = rng.choice(seen[category] if rng.random() < SEEN_ITEM_SHARE or not unseen else unseen)
    need = rng.choice(sorted(scenario.needs)) if rng.random() < NEED_SHARE else None
    chosen, phrasings = _pick_unit(scenario, need, rng)
    with_need = [p for p in phrasings if "{need}" in p]
    phrasing = rng.choice(with_need if need else phrasings)
    values: dict[str, Any] = {"item": item, "category": category}
    for name, pool in scenario.pools.items():
        values[name] = rng.choice(pool)
    need_text = rng.choice(scenario.needs[need]) if need else ""
    query = phrasing.format(**values, need=need_text)
    names_context = _names_context(chosen)
    if need:
        platform = _best_for(scenario, need)
    elif names_context:
        platform = user.preferences[scenario.scenario][category]
    else:  # an order id, a date...: nothing says which kind of request, so the usual platform
        platform = usual_platform(user, scenario, seen)
    calls = [_gold_call(api, values, user) for api in chosen]
    return Draft(scenario.scenario, category if names_context else None, need, query, platform, calls)


def _units(scenario: Scenario) -> list[tuple[list[Api], list[str]]]:
    apis = {a.name: a for a in scenario.apis}
    return [([a], a.phrasings) for a in scenario.apis] + [
        ([apis[c] for c in chain.calls], chain.phrasings) for chain in scenario.chains]


def _pick_unit(scenario: Scenario, need: str | None, rng: random.Random) -> tuple[list[Api], list[str]]:
    """An API or a chain: a chain with CHAIN_SHARE; mostly one whose query names the item or
    category (CONTEXT_SHARE), since that is what a personal preference can depend on; one with a
    `{need}` slot when a need is to be stated."""
    units = _units(scenario)
    singles, chains = units[: len(scenario.apis)], units[len(scenario.apis) :]
    pool = chains if chains and rng.random() < CHAIN_SHARE else singles
    if need:
        pool = [u for u in pool if any("{need}" in p for p in u[1])] or [
            u for u in units if any("{need}" in p for p in u[1])]
    context = [u for u in pool if _names_context(u[0])]
    others = [u for u in pool if not _names_context(u[0])]
    if context and (not others or rng.random() < CONTEXT_SHARE):
        return rng.choice(context)
    return rng.choice(others)


def _names_context(apis: list[Api]) -> bool:
    return any(api.source(p) in ("item", "category") for api in apis for p in api.parameters)


def usual_platform(user: User, scenario: Scenario, seen: dict[str, list[str]]) -> str:
    """The platform with the most history records in the scenario; "" on a tie (no answer)."""
    counts: dict[str, int] = {}
    for category, items in seen.items():
        platform = user.preferences[scenario.scenario][category]
        counts[platform] = counts.get(platform, 0) + len(items)
    ranked = sorted(counts.values(), reverse=True)
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return ""
    return max(counts, key=lambda p: counts[p])


def _best_for(scenario: Scenario, need: str) -> str:
    best = 1 if need == "price" else 3
    return next(p.name for p in scenario.platforms if p.traits[need] == best)


def _gold_call(api: Api, values: dict[str, Any], user: User) -> GoldCall:
    arguments: dict[str, list[Any]] = {}
    sources: dict[str, Provenance] = {}
    for param in api.gold_params():
        source = api.source(param)
        if source.startswith("profile:"):
            arguments[param] = [user.features[source[8:]]]
            sources[param] = "profile"
        else:
            arguments[param] = [values[source[5:] if source.startswith("pool:") else source]]
            sources[param] = "query"
    return GoldCall(name=api.name, arguments=arguments, sources=sources)
