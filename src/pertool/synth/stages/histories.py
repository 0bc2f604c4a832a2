"""Stage `histories` (paper section 4.2): behaviour histories by role-play.

For every user and scenario, task "histories.roleplay" role-plays `history_per_scenario` past
actions ({platform, action}) from the user's profile and the platforms' characteristics. The
history reveals the user's implicit preference without stating it: the preferred platform must
get strictly more records than any other (else the batch is rejected
"preference_not_revealed"), an action naming a platform the scenario lacks is rejected
"unknown_platform", one that states a preference outright ("prefers", "favourite") is rejected
"states_preference".

Output: histories.jsonl (HistoryRecord), keys "<user>/<scenario>/<i>", i = 0, 1, ... A user and
scenario whose batch was rejected have no history there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from pertool.synth.pipeline import StageContext
from pertool.synth.records import HistoryRecord, PlatformRecord, UserRecord
from pertool.synth.stages.tools import domain_of, each_in_order, stable
from pertool.synth.stages.users import PREFERRED

__all__ = ["SCRIPTED", "run"]

_STATES = re.compile(r"\b(prefers?|preferred|preference|favou?rite|always uses?|loyal)\b", re.IGNORECASE)


class ActionOut(BaseModel):
    platform: str
    action: str


class HistoryOut(BaseModel):
    records: list[ActionOut]


ROLEPLAY_INSTRUCTIONS = (
    "Role-play this user's past behaviour in the scenario: `count` records, each the platform used "
    '(exactly one of the given platform names) and a short past-tense action ("Bought running '
    'shoes", "Booked a trip to Kyoto"). Let the behaviour follow the user\'s implicit '
    f"preferences and the platforms' characteristics: the user's `{PREFERRED}` gets most records. "
    "Never state a preference outright, and do not mention the user's personal details."
)


async def run(ctx: StageContext) -> None:
    users = ctx.dir.read("users", UserRecord)
    platforms = ctx.dir.read("platforms", PlatformRecord)
    have = ctx.dir.read("histories", HistoryRecord)
    offered: dict[str, list[PlatformRecord]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        offered.setdefault(platform.scenario, []).append(platform)
    scenarios = sorted((s for s in ctx.config.scenarios if s.name in offered), key=lambda s: s.name)
    count = ctx.config.history_per_scenario
    todo = [(user, scenario.name, scenario.description) for user in sorted(users) for scenario in scenarios
            if any(f"{user}/{scenario.name}/{i}" not in have for i in range(count))]  # fmt: skip

    async def fetch(item: tuple[str, str, str]) -> HistoryOut | None:
        user, scenario, description = item
        profile = users[user]
        inputs = {"user": user, "scenario": scenario, "description": description, "count": count,
                  "profile": {"explicit": profile.explicit, "implicit": profile.implicit.get(scenario, {})},
                  "platforms": [{"name": p.name, "characteristics": p.characteristics}
                                for p in offered[scenario]]}  # fmt: skip
        return await ctx.llm.ask("histories.roleplay", ROLEPLAY_INSTRUCTIONS, inputs, HistoryOut, ctx.stats)

    def handle(item: tuple[str, str, str], out: HistoryOut | None) -> None:
        if out is None:
            return
        user, scenario, _ = item
        names = {p.name.lower(): p.name for p in offered[scenario]}
        records: list[tuple[str, str]] = []
        for record in out.records:
            platform = names.get(record.platform.strip().lower())
            action = " ".join(record.action.split())
            if platform is None:
                ctx.stats.rejected["unknown_platform"] += 1
            elif not action:
                ctx.stats.rejected["empty_action"] += 1
            elif _STATES.search(action):
                ctx.stats.rejected["states_preference"] += 1
            else:
                records.append((platform, action))
        records = records[:count]
        preferred = users[user].implicit.get(scenario, {}).get(PREFERRED)
        counts = Counter(platform for platform, _ in records)
        rivals = max((n for p, n in counts.items() if p != preferred), default=0)
        if preferred in names.values() and records and counts[preferred] <= rivals:
            ctx.stats.rejected["preference_not_revealed"] += len(records)
            return
        for index, (platform, action) in enumerate(records):
            key = f"{user}/{scenario}/{index}"
            if key in have:
                continue
            ctx.stats.accepted += 1
            ctx.write("histories", HistoryRecord(key=key, user=user, scenario=scenario, platform=platform,
                                                 action=action))  # fmt: skip

    await each_in_order(todo, fetch, handle)


# -- the scripted answers ------------------------------------------------------------------------


def _scripted_roleplay(inputs: dict[str, Any]) -> dict[str, Any]:
    names = [str(p.get("name")) for p in inputs.get("platforms") or [] if p.get("name")]
    count = max(1, int(inputs.get("count") or 1))
    if not names:
        return {"records": []}
    implicit = (inputs.get("profile") or {}).get("implicit") or {}
    preferred = implicit.get(PREFERRED) if implicit.get(PREFERRED) in names else names[0]
    others = [n for n in names if n != preferred]
    domain = domain_of(str(inputs.get("scenario") or ""))
    start = stable(str(inputs.get("user") or ""))
    on_preferred = count - (count - 1) // 2  # a strict majority
    records = []
    for i in range(count):
        platform = preferred if i < on_preferred or not others else others[(i - on_preferred) % len(others)]
        item = domain.items[(start + i) % len(domain.items)]
        action = domain.actions[(start + i) % len(domain.actions)].format(item=item)
        records.append({"platform": platform, "action": action})
    order = sorted(range(count), key=lambda i: stable(f"{inputs.get('user')}:{i}"))  # interleave
    return {"records": [records[i] for i in order]}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"histories.roleplay": _scripted_roleplay}
