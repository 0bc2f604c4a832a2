"""Stage `users` (paper section 4.2, second half): values assigned top-down, k_l per layer.

Layer l of the assignment is layer l of the feature trees (explicit and implicit together,
counted from their roots). Every user group so far branches into k_l = `users_per_layer[l]`
choices; a choice gives each feature of that layer a value drawn (with the stage's seeded
generator, distinct among siblings where the layer allows) from the values generated for its
parent's chosen value (`FeatureRecord.values_by_parent`), so a child never contradicts its
parent. There are N = prod k_l users, differing in structured ways rather than by noise. A
config with more layers than the trees branches again over the deepest layer (the later choice
wins); the layers below the last k_l are drawn once per user, top-down the same way. Personal
identifiers (name, phone, email, addresses, ids) are never drawn: they are unique to one user.

Each user becomes a full profile through task "users.profile": `explicit` (every explicit
feature: the drawn values as drawn, the identifiers made up, unique; demographics — age, gender,
occupation, income level — are explicit features of every tree), `implicit` per scenario (the
drawn implicit values), and `preferences`: scenario -> {condition: platform}, one condition per
category of the scenario's APIs (`ApiRecord.category`) plus "" for anything else (paper
Definition 3.1), derived from the user's implicit features and the platforms' characteristics.

Rules (a rejected answer is asked again once, with the problems): "incomplete_profile" (an
explicit feature missing), "unknown_platform" (a preference names no platform of the scenario),
"incomplete_preferences" (a scenario, a category or the "" default without a platform),
"unconditional_preferences" (every condition the same platform although the scenario has two
or more platforms and categories: the user's most-used platform would always be the answer),
"duplicate_identity" (an identifier another user already has; checked as users are written,
in key order, and the user asked again after the others).

Output: users.jsonl (UserRecord), keys "user-000", "user-001", ... in path order.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from pertool.builtin.users import CITIES, FIRST, LAST, STREETS
from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, FeatureRecord, PlatformRecord, UserRecord
from pertool.synth.stages.tools import Problems, ask_checked, each_in_order, is_identifier, stable, tokens

__all__ = ["SCRIPTED", "assign", "choice_paths", "preference_problems", "run", "user_key"]

PREFERRED = "preferred_platform"  # no longer written (preferences are per condition); kept for importers
DEFAULT = ""  # the condition of anything no category names


class ProfileOut(BaseModel):
    explicit: dict[str, str | int]
    implicit: dict[str, dict[str, str]] = Field(default_factory=dict)
    preferences: dict[str, dict[str, str]] = Field(default_factory=dict)


PROFILE_INSTRUCTIONS = (
    "Turn this path of feature choices into one realistic user. `explicit` must hold every "
    "explicit feature in `explicit_features` (keys exactly as given): the chosen value where the "
    "path chose one, otherwise a value fitting the rest of the person (the candidates are "
    "examples). Give the user a unique name and unique identifiers of their own (phone number, "
    "email and addresses), all distinct from each other. `implicit` maps every scenario in "
    "`scenarios` to the user's implicit feature values there. `preferences` maps every scenario "
    "to the platform this user picks per condition: one entry per category in the scenario's "
    "`categories` and one under \"\" for anything else, each a platform name of that scenario, "
    "chosen from the user's implicit features and the platforms' characteristics. Preferences "
    "depend on the condition (a budget-minded user may take the cheap platform for most things "
    "but the fast one where speed matters); never the same platform for every condition."
)


def user_key(index: int) -> str:
    return f"user-{index:03d}"


# -- top-down assignment -----------------------------------------------------------------------

Choice = dict[str, Any]  # {"layer": l, "explicit": {name: value}, "implicit": {name: value}}


def _tree(features: list[FeatureRecord]) -> dict[tuple[str, int, str], FeatureRecord]:
    return {(f.kind, f.layer, f.name): f for f in features}


def _drawable(features: list[FeatureRecord], layer: int) -> list[FeatureRecord]:
    chosen = [f for f in features if f.layer == layer and f.values and not is_identifier(f.name)]
    return sorted(chosen, key=lambda f: (f.kind, f.name))


def _options(feature: FeatureRecord, chosen: dict[tuple[str, int, str], str]) -> list[str]:
    """The values a feature may take given its parent's chosen value (all of them when the
    parent was not chosen or has no list for it)."""
    if feature.parent is not None:
        parent_value = chosen.get((feature.kind, feature.layer - 1, feature.parent))
        if parent_value is not None and feature.values_by_parent.get(parent_value):
            return feature.values_by_parent[parent_value]
    return feature.values


def _chosen(path: list[Choice]) -> dict[tuple[str, int, str], str]:
    out: dict[tuple[str, int, str], str] = {}
    for step in path:
        for key, value in step["values"].items():
            out[tuple(json.loads(key))] = value  # type: ignore[assignment]
    return out


def _draw(features: list[FeatureRecord], path: list[Choice], layer: int, k: int, rng: random.Random) -> list[Choice]:
    """k choices for one group at one layer: distinct where the options allow it."""
    chosen = _chosen(path)
    out: list[Choice] = []
    seen: set[str] = set()
    for _ in range(20 * k):
        if len(out) == k:
            break
        values = {json.dumps([f.kind, f.layer, f.name]): rng.choice(_options(f, chosen)) for f in features}
        signature = json.dumps(values, sort_keys=True)
        if signature not in seen:
            seen.add(signature)
            out.append({"layer": layer, "values": values})
    distinct = list(out) or [{"layer": layer, "values": {}}]
    while len(out) < k:  # fewer distinct choices than k: repeat them (the profiles still differ)
        out.append(copy.deepcopy(distinct[len(out) % len(distinct)]))
    return out


def choice_paths(features: list[FeatureRecord], per_layer: list[int], rng: random.Random) -> list[list[Choice]]:
    """Top-down: every group branches into k_l choices at layer l, then the deeper layers are
    drawn once per path; one path per user."""
    depth = max((f.layer for f in features), default=-1) + 1
    if depth == 0:
        return [[] for _ in range(max(1, _product(per_layer)))]
    paths: list[list[Choice]] = [[]]
    for layer, k in enumerate(per_layer):
        at = min(layer, depth - 1)
        level = _drawable(features, at)
        paths = [[*path, choice] for path in paths for choice in _draw(level, path, at, max(0, k), rng)]
    for layer in range(len(per_layer), depth):
        level = _drawable(features, layer)
        paths = [[*path, *_draw(level, path, layer, 1, rng)] for path in paths]
    return paths


def _product(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def assign(path: list[Choice]) -> dict[str, dict[str, str]]:
    """The values a path assigns, by kind and feature name (a deeper layer wins a shared name)."""
    out: dict[str, dict[str, str]] = {"explicit": {}, "implicit": {}}
    for (kind, _, name), value in sorted(_chosen(path).items(), key=lambda kv: kv[0][1]):
        out[kind][name] = value
    return out


def _catalog(features: list[FeatureRecord], kind: str, chosen: dict[tuple[str, int, str], str]) -> dict[str, list[str]]:
    """Each feature of a kind with the values open to this user (deepest layer per name)."""
    out: dict[str, list[str]] = {}
    for feature in sorted(features, key=lambda f: (f.layer, f.name)):
        if feature.kind == kind:
            out[feature.name] = list(_options(feature, chosen))
    return dict(sorted(out.items()))


def _norm(value: Any) -> str:
    return " ".join(str(value).lower().split())


# -- rules -----------------------------------------------------------------------------------------


def preference_problems(preferences: dict[str, dict[str, str]], scenarios: dict[str, dict[str, Any]]) -> Problems:
    """Why a user's conditional preferences are unusable (see the module's rules)."""
    problems: Problems = []
    for scenario, offered in scenarios.items():
        names = {p["name"] for p in offered["platforms"]}
        conditions = [*offered["categories"], DEFAULT]
        mine = preferences.get(scenario) or {}
        unknown = sorted({p for c, p in mine.items() if c in conditions and p not in names})
        if unknown:
            problems.append(("unknown_platform", f"{scenario}: {unknown} are not platforms of the scenario"))
        missing = [c for c in conditions if c not in mine]
        if missing:
            problems.append(("incomplete_preferences", f"{scenario}: no platform for {missing}"))
        chosen = {mine.get(c) for c in conditions}
        if not unknown and not missing and len(names) >= 2 and len(offered["categories"]) >= 2 and len(chosen) == 1:
            problems.append(("unconditional_preferences", f"{scenario}: the same platform for every condition"))
    return problems


def _profile(out: ProfileOut, path: list[Choice], explicit_features: dict[str, list[str]],
             implicit_features: dict[str, list[str]], scenarios: dict[str, dict[str, Any]]) -> UserRecord | None:  # fmt: skip
    """The user the answer describes, the drawn values kept (None when the answer lacks a
    scenario's preferences; the rules say why)."""
    explicit: dict[str, Any] = {k.strip(): v for k, v in out.explicit.items()
                                if k.strip() and str(v).strip() and k.strip() not in implicit_features}  # fmt: skip
    drawn = assign(path)
    explicit.update(drawn["explicit"])
    implicit: dict[str, dict[str, str]] = {}
    preferences: dict[str, dict[str, str]] = {}
    for scenario, offered in scenarios.items():
        prefs = {k.strip(): str(v) for k, v in out.implicit.get(scenario, {}).items() if k.strip()}
        prefs.pop(PREFERRED, None)
        prefs.update(drawn["implicit"])
        implicit[scenario] = dict(sorted(prefs.items()))
        conditions = [*offered["categories"], DEFAULT]
        mine = out.preferences.get(scenario) or {}
        preferences[scenario] = {c: mine[c] for c in conditions if c in mine}
    return UserRecord(key="", explicit=explicit, implicit=implicit, preferences=preferences)


def _problems(out: ProfileOut, path: list[Choice], explicit_features: dict[str, list[str]],
              implicit_features: dict[str, list[str]], scenarios: dict[str, dict[str, Any]]) -> Problems:  # fmt: skip
    user = _profile(out, path, explicit_features, implicit_features, scenarios)
    assert user is not None
    missing = [name for name in explicit_features if name not in user.explicit]
    problems: Problems = [("incomplete_profile", f"no value for {missing}")] if missing else []
    return problems + preference_problems(out.preferences, scenarios)


# -- the stage -------------------------------------------------------------------------------------


async def run(ctx: StageContext) -> None:
    features = list(ctx.dir.read("features", FeatureRecord).values())
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    have = ctx.dir.read("users", UserRecord)
    paths = choice_paths(features, ctx.config.users_per_layer, ctx.rng)
    scenarios: dict[str, dict[str, Any]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        scenarios.setdefault(platform.scenario, {"platforms": [], "categories": []})["platforms"].append(
            {"name": platform.name, "characteristics": platform.characteristics})
    for api in sorted(apis.values(), key=lambda a: a.key):
        if api.scenario in scenarios and api.category and api.category not in scenarios[api.scenario]["categories"]:
            scenarios[api.scenario]["categories"].append(api.category)
    for offered in scenarios.values():
        offered["categories"].sort()
    identities: dict[tuple[str, str], str] = {}
    for user in have.values():
        for name, value in user.explicit.items():
            if is_identifier(name):
                identities[(name, _norm(value))] = user.key
    Item = tuple[int, list[Choice]]

    def inputs_of(item: Item) -> dict[str, Any]:
        index, path = item
        chosen = _chosen(path)
        drawn = assign(path)
        return {"user": user_key(index), "index": index,
                "path": [{"layer": s["layer"], **_by_kind(s)} for s in path],
                "explicit_features": _catalog(features, "explicit", chosen),
                "implicit_features": _catalog(features, "implicit", chosen),
                "drawn": drawn, "scenarios": scenarios}  # fmt: skip

    async def fetch(item: Item, rejected: list[str] | None = None) -> tuple[ProfileOut | None, Problems]:
        inputs = inputs_of(item)
        if rejected:
            inputs["rejected"] = rejected

        def check(out: ProfileOut) -> Problems:
            return _problems(out, item[1], inputs["explicit_features"], inputs["implicit_features"], scenarios)

        return await ask_checked(ctx, "users.profile", PROFILE_INSTRUCTIONS, inputs, ProfileOut, check)

    def duplicates(user: UserRecord) -> list[str]:
        mine = {(name, _norm(value)) for name, value in user.explicit.items() if is_identifier(name)}
        return sorted(f"{name} {value!r}" for name, value in mine if identities.get((name, value), user.key) != user.key)

    again: list[tuple[Item, list[str]]] = []

    def handle(item: Item, answer: tuple[ProfileOut | None, Problems], retry: bool = False) -> None:
        out, problems = answer
        if out is None or problems:
            return
        index, path = item
        inputs = inputs_of(item)
        user = _profile(out, path, inputs["explicit_features"], inputs["implicit_features"], scenarios)
        assert user is not None
        user = user.model_copy(update={"key": user_key(index)})
        taken = duplicates(user)
        if taken:
            ctx.stats.rejected["duplicate_identity"] += 1
            if not retry:
                again.append((item, [f"{', '.join(taken)} already belong to another user"]))
            return
        for name, value in user.explicit.items():
            if is_identifier(name):
                identities[(name, _norm(value))] = user.key
        ctx.stats.accepted += 1
        ctx.write("users", user)

    todo = [(index, path) for index, path in enumerate(paths) if user_key(index) not in have]
    await each_in_order(todo, fetch, handle)
    for item, rejected in again:  # one at a time: each sees the identities of the ones before
        handle(item, await fetch(item, rejected), retry=True)


def _by_kind(step: Choice) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"explicit": {}, "implicit": {}}
    for key, value in step["values"].items():
        kind, _, name = json.loads(key)
        out[kind][name] = value
    return out


# -- the scripted answers ------------------------------------------------------------------------

# Name, street and city pools are the built-in benchmark's.


def _person(index: int) -> tuple[str, str]:
    combos = len(FIRST) * len(LAST)
    n = (index * 37) % combos  # 37 is prime to 600: distinct for the first 600 users
    return FIRST[n % len(FIRST)], LAST[n // len(FIRST)]


def _identifier(feature: str, index: int, slots: Counter[str]) -> str:
    """A value of a personal identifier that no other user and no other feature has."""
    first, last = _person(index)
    words = tokens(feature)
    kind = next((k for k, keys in (("email", {"email", "mail"}), ("phone", {"phone", "mobile", "telephone"}),
                                   ("address", {"address"}), ("username", {"username"}), ("name", {"name"}))
                 if words & keys), "id")  # fmt: skip
    slot = slots[kind]
    slots[kind] += 1
    tag = "" if index < len(FIRST) * len(LAST) else f" {index}"
    if kind == "email":
        return f"{first.lower()}.{last.lower()}{index}{f'.{slot}' if slot else ''}@mailbox.example"
    if kind == "phone":
        return f"+1-555-{100 + slot:03d}-{1000 + index:04d}"
    if kind == "address":
        street, city = STREETS[(index + slot) % len(STREETS)], CITIES[(3 * index + slot) % len(CITIES)]
        return f"{10 + 40 * index + slot} {street}, {city}"
    if kind == "username":
        return f"{first.lower()}_{last.lower()}{index}"
    if kind == "name":
        return f"{first} {last}{tag}"
    return f"ID-{index:05d}-{slot}"


_PROFILE_FAULTS = {3: "incomplete", 6: "unconditional", 9: "duplicate"}  # by user index % 10


def _scripted_preferences(scenario: str, offered: dict[str, Any], implicit: dict[str, str], user: str) -> dict[str, str]:
    """The platform per condition: each category weighs one characteristic (picked by the
    category), the default weighs none; a platform scores by how many characteristics match the
    user's implicit values. When every condition would get one platform, the category the user
    is most attached to elsewhere goes to the best other platform (conditions matter)."""
    platforms = [p for p in offered.get("platforms") or [] if p.get("name")]
    categories = [str(c) for c in offered.get("categories") or []]
    if not platforms:
        return {}
    traits = sorted({c for p in platforms for c in p.get("characteristics", {})}) or [""]
    tie = stable(f"{user}/{scenario}")

    def best(focus: str | None, exclude: str = "") -> str:
        def score(index: int) -> tuple[int, int]:
            chars = platforms[index].get("characteristics", {})
            points = sum((3 if c == focus else 1) * (implicit.get(c) == v) for c, v in chars.items())
            return points, -((index + tie) % len(platforms))
        ranked = sorted(range(len(platforms)), key=score, reverse=True)
        return next(str(platforms[i]["name"]) for i in ranked if platforms[i]["name"] != exclude or len(platforms) == 1)

    default = best(None)
    chosen = {c: best(traits[stable(f"{scenario}/{c}") % len(traits)]) for c in categories}
    if len(platforms) >= 2 and len(categories) >= 2 and set(chosen.values()) == {default}:
        moved = categories[tie % len(categories)]
        chosen[moved] = best(traits[stable(f"{scenario}/{moved}") % len(traits)], exclude=default)
    return {**chosen, DEFAULT: default}


def _scripted_profile(inputs: dict[str, Any]) -> dict[str, Any]:
    index = int(inputs.get("index") or 0)
    fault = "" if inputs.get("rejected") else _PROFILE_FAULTS.get(index % 10, "")
    drawn: dict[str, dict[str, str]] = inputs.get("drawn") or {}
    features: dict[str, list[str]] = inputs.get("explicit_features") or {}
    explicit: dict[str, str] = {}
    slots: Counter[str] = Counter()
    who = 0 if fault == "duplicate" and index > 0 else index  # another user's identity
    for name in ["name", *sorted(f for f in features if is_identifier(f) and f != "name")]:
        explicit[name] = _identifier(name, who, slots)
    explicit.update(drawn.get("explicit") or {})
    used = {_norm(v) for v in explicit.values()}
    for offset, name in enumerate(sorted(features)):
        if name in explicit:
            continue
        values = features[name] or ["not given"]
        rotation = [values[(index + offset + n) % len(values)] for n in range(len(values))]
        value = next((v for v in rotation if _norm(v) not in used), values[0])
        explicit[name] = value
        used.add(_norm(value))
    base = dict(drawn.get("implicit") or {})
    implicit: dict[str, dict[str, str]] = {}
    preferences: dict[str, dict[str, str]] = {}
    for scenario, offered in sorted((inputs.get("scenarios") or {}).items()):
        implicit[scenario] = dict(base)
        preferences[scenario] = _scripted_preferences(scenario, offered, base, str(inputs.get("user")))
    if fault == "incomplete" and preferences:
        identifiers = [n for n in features if is_identifier(n) and n in explicit]
        if identifiers:
            del explicit[identifiers[0]]
        first, last = sorted(preferences)[0], sorted(preferences)[-1]
        preferences[first] = {c: "Nowhere" if c == DEFAULT else p for c, p in preferences[first].items()}
        preferences[last] = {c: p for c, p in preferences[last].items() if c != DEFAULT}
    elif fault == "unconditional":
        preferences = {s: dict.fromkeys(prefs, prefs.get(DEFAULT, "")) for s, prefs in preferences.items()}
    return {"explicit": explicit, "implicit": implicit, "preferences": preferences}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"users.profile": _scripted_profile}
