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
does not get strictly more of its records than any other ("preference_not_revealed"). An answer
with any of these problems is asked again once, with the problems (`rejected` in the inputs);
the second answer stands, its good records kept, each reason counted once per answer. The
schema requires each record's condition, so an answer without one is no valid answer (asked
again by the client) rather than a batch of unknown conditions.

Output: histories.jsonl (HistoryRecord with its `condition`), keys "<user>/<scenario>/<i>". A
user and scenario whose batch was rejected have no history there (and get no query: the queries
stage rejects its plans "no_history"). Working file: history_rejections.jsonl (RejectionRecord,
keyed "<user>/<scenario>"), the batches rejected for good, so a resumed run does not count them
twice; a batch's counts are added with its first record, never again on a resume.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from pertool.synth.faults import NO_HISTORY_USER, USERS, user_number
from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, HistoryRecord, PlatformRecord, RejectionRecord, UserRecord
from pertool.synth.stages.conditions import conditions_of, preferred_for
from pertool.synth.stages.tools import Problems, domain_of, each_in_order, stable

__all__ = ["SCRIPTED", "run", "spread"]

_STATES = re.compile(r"\b(prefers?|preferred|preference|favou?rite|always uses?|loyal)\b", re.IGNORECASE)


REJECTIONS = "history_rejections"
Record = tuple[str, str, str]  # (condition, platform, action)


class ActionOut(BaseModel):
    condition: str  # required: a record without its condition cannot show a preference per condition
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
    given_up = ctx.dir.read(REJECTIONS, RejectionRecord)
    offered: dict[str, list[PlatformRecord]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        offered.setdefault(platform.scenario, []).append(platform)
    conditions = {s: conditions_of(a for a in apis.values() if a.scenario == s) for s in offered}
    scenarios = sorted((s for s in ctx.config.scenarios if s.name in offered and conditions[s.name]),
                       key=lambda s: s.name)  # fmt: skip
    counts = {s.name: spread(ctx.config.history_per_scenario, conditions[s.name]) for s in scenarios}
    todo = [(user, s.name, s.description) for user in sorted(users) for s in scenarios
            if f"{user}/{s.name}" not in given_up
            and any(f"{user}/{s.name}/{i}" not in have
                    for i in range(sum(counts[s.name].values())))]  # fmt: skip

    def preferred(user: str, scenario: str) -> dict[str, str | None]:
        return {c: preferred_for(users[user], scenario, c) for c in counts[scenario]}

    def check(item: tuple[str, str, str], out: HistoryOut) -> tuple[list[Record], Problems]:
        user, scenario, _ = item
        records, problems = _checked(out, [p.name for p in offered[scenario]], counts[scenario])
        if not _revealed(records, preferred(user, scenario)):
            problems.append(("preference_not_revealed", "a condition's preferred platform does not get "
                             "strictly the most of its records"))  # fmt: skip
        return records, problems

    async def fetch(item: tuple[str, str, str]) -> tuple[list[Record], list[Problems]]:
        """The records of the answer that stands, and the problems of each answer."""
        user, scenario, description = item
        profile = users[user]
        prefs = preferred(user, scenario)
        inputs: dict[str, Any] = {
            "user": user, "scenario": scenario, "description": description,
            "profile": {"explicit": profile.explicit, "implicit": profile.implicit.get(scenario, {})},
            "platforms": [{"name": p.name, "characteristics": p.characteristics} for p in offered[scenario]],
            "conditions": [{"condition": c, "preferred_platform": prefs[c], "count": n}
                           for c, n in counts[scenario].items()]}  # fmt: skip
        found: list[Problems] = []
        kept: list[Record] = []
        for _ in range(2):  # a second ask, told what was wrong
            out = await ctx.llm.ask("histories.roleplay", ROLEPLAY_INSTRUCTIONS, inputs, HistoryOut,
                                    ctx.stats)  # fmt: skip
            if out is None:  # no valid second answer: the first stands
                break
            kept, problems = check(item, out)
            found.append(problems)
            if not problems:
                break
            inputs = {**inputs, "rejected": [message for _, message in problems]}
        return kept, found

    def handle(item: tuple[str, str, str], result: tuple[list[Record], list[Problems]]) -> None:
        user, scenario, _ = item
        records, found = result
        keys = [f"{user}/{scenario}/{i}" for i in range(len(records))]
        if not any(k in have for k in keys):  # counted with the batch's first record, once
            for problems in found:
                for reason in sorted({reason for reason, _ in problems}):
                    ctx.stats.rejected[reason] += 1
        if not found or any(r == "preference_not_revealed" for r, _ in found[-1]):
            reasons = sorted({r for problems in found for r, _ in problems}) or ["invalid_output"]
            ctx.write(REJECTIONS, RejectionRecord(key=f"{user}/{scenario}", reasons=reasons))
            return
        for key, (condition, platform, action) in zip(keys, records):
            if key in have:
                continue
            ctx.stats.accepted += 1
            ctx.write("histories", HistoryRecord(key=key, user=user, scenario=scenario, platform=platform,
                                                 action=action, condition=condition))  # fmt: skip

    await each_in_order(todo, fetch, handle)


def _checked(out: HistoryOut, platforms: list[str], counts: dict[str, int]) -> tuple[list[Record], Problems]:
    """The records that pass the per-record rules, at most `counts[c]` per condition, in order,
    and the problems of those that do not."""
    names = {p.lower(): p for p in platforms}
    conditions = {c.casefold(): c for c in counts}
    taken: Counter[str] = Counter()
    records: list[Record] = []
    problems: Problems = []
    for i, record in enumerate(out.records):
        platform = names.get(record.platform.strip().lower())
        condition = conditions.get(record.condition.strip().casefold())
        action = " ".join(record.action.split())
        if platform is None:
            problems.append(("unknown_platform", f"record {i}: {record.platform!r} is none of the platforms"))
        elif condition is None:
            problems.append(("unknown_condition", f"record {i}: {record.condition!r} is no condition"))
        elif not action:
            problems.append(("empty_action", f"record {i}: the action is empty"))
        elif _STATES.search(action):
            problems.append(("states_preference", f"record {i}: the action states a preference outright"))
        elif taken[condition] < counts[condition]:
            taken[condition] += 1
            records.append((condition, platform, action))
    return records, problems


def _revealed(records: list[Record], preferred: dict[str, str | None]) -> bool:
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
    others; each action fits its condition by what it says (the condition's object, from the
    domain's functional areas), never by quoting it. Faults: users n % 4 == 1 add four records
    each rule drops (answered right when asked again); users n % USERS == NO_HISTORY_USER
    (faults.py) put each condition's majority on another platform, asked again or not (the
    batch is rejected, and the user gets no query)."""
    names = [str(p.get("name")) for p in inputs.get("platforms") or [] if p.get("name")]
    if not names:
        return {"records": []}
    user = str(inputs.get("user") or "")
    domain = domain_of(str(inputs.get("scenario") or ""))
    objects = dict(domain.areas)
    start = stable(user)
    n = user_number(user)
    records = []
    for entry in inputs.get("conditions") or []:
        condition, count = str(entry.get("condition") or ""), max(1, int(entry.get("count") or 1))
        preferred = entry.get("preferred_platform") if entry.get("preferred_platform") in names else names[0]
        others = [p for p in names if p != preferred]
        if n is not None and n % USERS == NO_HISTORY_USER and others:
            preferred, others = others[0], [preferred]
        on_preferred = count - (count - 1) // 2  # a strict majority
        for i in range(count):
            rival = others[(i - on_preferred) % len(others)] if others else preferred
            platform = preferred if i < on_preferred else rival
            item = domain.items[(start + i) % len(domain.items)]
            if condition in objects:
                action = _ACTIONS[(start + i) % len(_ACTIONS)].format(object=objects[condition], item=item)
            else:
                action = domain.actions[(start + i) % len(domain.actions)].format(item=item)
            records.append({"condition": condition, "platform": platform, "action": action})
    order = sorted(range(len(records)), key=lambda i: stable(f"{user}:{i}"))  # interleave
    records = [records[i] for i in order]
    if n is not None and n % 4 == 1 and records and not inputs.get("rejected"):
        first = records[0]
        records += [{**first, "platform": f"{names[0]} Lite"}, {**first, "action": "  "},
                    {**first, "action": f"Always uses {first['platform']}, the favourite"},
                    {**first, "condition": "something else entirely"}]  # fmt: skip
    return {"records": records}


# Past-tense actions on a condition's object ("order", "hotel room", "playlist") and an item.
_ACTIONS = ("Went ahead with the {object} for {item}", "Sorted out the {object} for {item}",
            "Completed the {object} for {item}", "Dealt with the {object} for {item}")


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"histories.roleplay": _scripted_roleplay}
