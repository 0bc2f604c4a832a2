"""Stage `histories` (paper section 4.2): behaviour histories role-played per condition.

For every user and scenario, task "histories.roleplay" role-plays past actions ({condition,
platform, action}) from the user's profile and the platforms' characteristics. The records are
spread over the scenario's conditions (its API categories, `conditions_of`): at least one per
condition, `history_per_scenario` in all when that is more; each condition's records follow the
user's preferred platform for that condition (`UserRecord.preferences`), so the history shows the
preference per condition without stating it, and the platform most used over the whole scenario
need not be the one a query's condition calls for.

Rejected, per record: a platform the scenario lacks ("unknown_platform"), a condition it lacks
("unknown_condition"), an empty action ("empty_action"), an action stating a preference outright
("states_preference"). Rejected, the whole batch: a covered condition whose preferred platform
does not get strictly more of its records than any other ("preference_not_revealed").

Output: histories.jsonl (HistoryRecord with its `condition`), keys "<user>/<scenario>/<i>". A
user and scenario whose batch was rejected have no history there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from pertool.synth.faults import user_number
from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, HistoryRecord, PlatformRecord, UserRecord
from pertool.synth.stages.conditions import conditions_of, preferred_for
from pertool.synth.stages.tools import domain_of, each_in_order, stable

__all__ = ["SCRIPTED", "run", "spread"]

_STATES = re.compile(r"\b(prefers?|preferred|preference|favou?rite|always uses?|loyal)\b", re.IGNORECASE)


class ActionOut(BaseModel):
    condition: str = ""
    platform: str
    action: str


class HistoryOut(BaseModel):
    records: list[ActionOut]


ROLEPLAY_INSTRUCTIONS = (
    "Role-play this user's past behaviour in the scenario. For each entry of `conditions` (a kind "
    "of request, with the platform the user prefers for it and how many records it gets) write "
    "that many records: the condition (exactly as given), the platform used (exactly one of the "
    'given platform names) and a short past-tense action of that kind ("Bought running shoes", '
    '"Booked a trip to Kyoto"). The preferred platform gets most of its condition\'s records. '
    "Let the behaviour also follow the user's implicit features and the platforms' "
    "characteristics. Never state a preference outright, and do not mention personal details."
)


def spread(count: int, conditions: list[str]) -> dict[str, int]:
    """Records per condition: `count` in all (at least one per condition), round-robin."""
    total = max(count, len(conditions))
    return {c: total // len(conditions) + (i < total % len(conditions)) for i, c in enumerate(conditions)}


async def run(ctx: StageContext) -> None:
    users = ctx.dir.read("users", UserRecord)
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    have = ctx.dir.read("histories", HistoryRecord)
    offered: dict[str, list[PlatformRecord]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        offered.setdefault(platform.scenario, []).append(platform)
    conditions = {s: conditions_of(a for a in apis.values() if a.scenario == s) for s in offered}
    scenarios = sorted((s for s in ctx.config.scenarios if s.name in offered and conditions[s.name]),
                       key=lambda s: s.name)  # fmt: skip
    counts = {s.name: spread(ctx.config.history_per_scenario, conditions[s.name]) for s in scenarios}
    todo = [(user, s.name, s.description) for user in sorted(users) for s in scenarios
            if any(f"{user}/{s.name}/{i}" not in have
                   for i in range(sum(counts[s.name].values())))]  # fmt: skip

    def preferred(user: str, scenario: str) -> dict[str, str | None]:
        return {c: preferred_for(users[user], scenario, c) for c in counts[scenario]}

    async def fetch(item: tuple[str, str, str]) -> HistoryOut | None:
        user, scenario, description = item
        profile = users[user]
        prefs = preferred(user, scenario)
        inputs = {"user": user, "scenario": scenario, "description": description,
                  "profile": {"explicit": profile.explicit, "implicit": profile.implicit.get(scenario, {})},
                  "platforms": [{"name": p.name, "characteristics": p.characteristics}
                                for p in offered[scenario]],
                  "conditions": [{"condition": c, "preferred_platform": prefs[c], "count": n}
                                 for c, n in counts[scenario].items()]}  # fmt: skip
        return await ctx.llm.ask("histories.roleplay", ROLEPLAY_INSTRUCTIONS, inputs, HistoryOut, ctx.stats)

    def handle(item: tuple[str, str, str], out: HistoryOut | None) -> None:
        if out is None:
            return
        user, scenario, _ = item
        records = _checked(ctx, out, [p.name for p in offered[scenario]], counts[scenario])
        if not _revealed(records, preferred(user, scenario)):
            ctx.stats.rejected["preference_not_revealed"] += 1
            return
        for index, (condition, platform, action) in enumerate(records):
            key = f"{user}/{scenario}/{index}"
            if key in have:
                continue
            ctx.stats.accepted += 1
            ctx.write("histories", HistoryRecord(key=key, user=user, scenario=scenario, platform=platform,
                                                 action=action, condition=condition))  # fmt: skip

    await each_in_order(todo, fetch, handle)


def _checked(ctx: StageContext, out: HistoryOut, platforms: list[str],
             counts: dict[str, int]) -> list[tuple[str, str, str]]:  # fmt: skip
    """The records that pass the per-record rules, at most `counts[c]` per condition, in order."""
    names = {p.lower(): p for p in platforms}
    conditions = {c.casefold(): c for c in counts}
    taken: Counter[str] = Counter()
    records: list[tuple[str, str, str]] = []
    for record in out.records:
        platform = names.get(record.platform.strip().lower())
        condition = conditions.get(record.condition.strip().casefold())
        action = " ".join(record.action.split())
        if platform is None:
            ctx.stats.rejected["unknown_platform"] += 1
        elif condition is None:
            ctx.stats.rejected["unknown_condition"] += 1
        elif not action:
            ctx.stats.rejected["empty_action"] += 1
        elif _STATES.search(action):
            ctx.stats.rejected["states_preference"] += 1
        elif taken[condition] < counts[condition]:
            taken[condition] += 1
            records.append((condition, platform, action))
    return records


def _revealed(records: list[tuple[str, str, str]], preferred: dict[str, str | None]) -> bool:
    """Every condition with records gives its preferred platform strictly the most of them."""
    for condition, platform in preferred.items():
        counts = Counter(p for c, p, _ in records if c == condition)
        if platform is None or not counts:
            continue
        if counts[platform] <= max((n for p, n in counts.items() if p != platform), default=0):
            return False
    return bool(records)


# -- the scripted answers ------------------------------------------------------------------------


def _scripted_roleplay(inputs: dict[str, Any]) -> dict[str, Any]:
    """Per condition, a strict majority on its preferred platform, the rest spread over the
    others. Faults (faults.py): users n % 4 == 1 add four records each rule drops; users
    n % 16 == 5 put each condition's majority on another platform (the batch is rejected)."""
    names = [str(p.get("name")) for p in inputs.get("platforms") or [] if p.get("name")]
    if not names:
        return {"records": []}
    user = str(inputs.get("user") or "")
    domain = domain_of(str(inputs.get("scenario") or ""))
    start = stable(user)
    n = user_number(user)
    records = []
    for entry in inputs.get("conditions") or []:
        condition, count = str(entry.get("condition") or ""), max(1, int(entry.get("count") or 1))
        preferred = entry.get("preferred_platform") if entry.get("preferred_platform") in names else names[0]
        others = [p for p in names if p != preferred]
        if n is not None and n % 16 == 5 and others:
            preferred, others = others[0], [preferred]
        on_preferred = count - (count - 1) // 2  # a strict majority
        for i in range(count):
            rival = others[(i - on_preferred) % len(others)] if others else preferred
            platform = preferred if i < on_preferred else rival
            item = domain.items[(start + i) % len(domain.items)]
            action = domain.actions[(start + i) % len(domain.actions)].format(item=item)
            records.append({"condition": condition, "platform": platform,
                            "action": f"{action} ({condition})" if condition else action})  # fmt: skip
    order = sorted(range(len(records)), key=lambda i: stable(f"{user}:{i}"))  # interleave
    records = [records[i] for i in order]
    if n is not None and n % 4 == 1 and records:
        first = records[0]
        records += [{**first, "platform": f"{names[0]} Lite"}, {**first, "action": "  "},
                    {**first, "action": f"Always uses {first['platform']}, the favourite"},
                    {**first, "condition": "something else entirely"}]  # fmt: skip
    return {"records": records}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"histories.roleplay": _scripted_roleplay}
