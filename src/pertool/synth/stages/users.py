"""Stage `users` (paper section 4.2, second half): values assigned top-down, k_l per layer.

Layer l of the assignment is layer l of the feature trees (explicit and implicit together,
counted from their roots). Every user group so far branches into k_l = `users_per_layer[l]`
choices; a choice gives each feature of that layer one of its candidate values (drawn with the
stage's seeded generator, distinct among siblings where the layer allows), so there are
N = prod k_l users, differing in structured ways rather than by noise. Personal identifiers
(name, phone, email, addresses, ids) are never chosen for a group: they must be unique to one
user. A config with more layers than the trees branches again over the deepest layer (the
later choice wins). Each path of choices becomes a full user through task "users.profile":
an explicit dict holding every explicit feature (the chosen values as chosen, the rest filled
in, with unique personal identifiers) and an implicit dict of preferences per scenario,
including a `preferred_platform` that is one of the scenario's platforms.

Output: users.jsonl (UserRecord), keys "user-000", "user-001", ... in path order. A profile
that lacks an explicit feature is rejected "incomplete_profile"; one without a known preferred
platform per scenario "unknown_platform"; one reusing another user's identifier (same key and
value) "duplicate_identity".
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from pertool.builtin.users import CITIES, FIRST, LAST, STREETS
from pertool.synth.pipeline import StageContext
from pertool.synth.records import FeatureRecord, PlatformRecord, UserRecord
from pertool.synth.stages.tools import each_in_order, is_identifier, stable, tokens

__all__ = ["SCRIPTED", "choice_paths", "run", "user_key"]

PREFERRED = "preferred_platform"
BASE_IDENTITY = ("name", "email", "phone", "home_address")  # the scripted profile always has these


class ProfileOut(BaseModel):
    explicit: dict[str, str | int]
    implicit: dict[str, dict[str, str]]


PROFILE_INSTRUCTIONS = (
    "Turn this path of feature choices into one realistic user. `explicit` must hold every "
    "explicit feature in `explicit_features` (keys exactly as given): the chosen value where the "
    "path chose one, otherwise a value fitting the rest of the person (the candidates are "
    "examples). Give the user a unique name, phone number, email address and home address of their "
    "own, and make all explicit values distinct from each other. `implicit` maps every scenario in "
    f"`scenarios` to the user's preferences there: the implicit features' values and "
    f"`{PREFERRED}`, the one of that scenario's platforms whose characteristics fit the "
    "user best."
)


def user_key(index: int) -> str:
    return f"user-{index:03d}"


def _layer_features(features: list[FeatureRecord], layer: int) -> list[FeatureRecord]:
    depth = max((f.layer for f in features), default=-1) + 1
    if depth == 0:
        return []
    at = min(layer, depth - 1)
    chosen = [f for f in features if f.layer == at and f.values and not is_identifier(f.name)]
    return sorted(chosen, key=lambda f: (f.kind, f.name))


def _draw(features: list[FeatureRecord], k: int, rng: random.Random) -> list[dict[str, dict[str, str]]]:
    """k choices for one group: distinct where the layer's values allow it."""
    out: list[dict[str, dict[str, str]]] = []
    seen: set[str] = set()
    for _ in range(20 * k):
        if len(out) == k:
            break
        choice: dict[str, dict[str, str]] = {"explicit": {}, "implicit": {}}
        for feature in features:
            choice[feature.kind][feature.name] = rng.choice(feature.values)
        signature = json.dumps(choice, sort_keys=True)
        if signature not in seen:
            seen.add(signature)
            out.append(choice)
    distinct = list(out) or [{"explicit": {}, "implicit": {}}]
    while len(out) < k:  # fewer distinct choices than k: repeat them (the profiles still differ)
        out.append(copy.deepcopy(distinct[len(out) % len(distinct)]))
    return out


def choice_paths(features: list[FeatureRecord], per_layer: list[int],
                 rng: random.Random) -> list[list[dict[str, Any]]]:  # fmt: skip
    """Top-down: every group branches into k_l choices at layer l; one path per user."""
    ordered = sorted(features, key=lambda f: (f.layer, f.kind, f.name))
    paths: list[list[dict[str, Any]]] = [[]]
    for layer, k in enumerate(per_layer):
        at_layer = _layer_features(ordered, layer)
        paths = [[*path, {"layer": layer, **choice}] for path in paths
                 for choice in _draw(at_layer, max(0, k), rng)]  # fmt: skip
    return paths


def _catalog(features: dict[str, FeatureRecord], kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for feature in sorted(features.values(), key=lambda f: (f.layer, f.name)):
        if feature.kind == kind:
            out.setdefault(feature.name, list(feature.values))
    return dict(sorted(out.items()))


def _norm(value: Any) -> str:
    return " ".join(str(value).lower().split())


async def run(ctx: StageContext) -> None:
    features = ctx.dir.read("features", FeatureRecord)
    platforms = ctx.dir.read("platforms", PlatformRecord)
    have = ctx.dir.read("users", UserRecord)
    rng = ctx.rng
    paths = choice_paths(list(features.values()), ctx.config.users_per_layer, rng)
    explicit_features = _catalog(features, "explicit")
    implicit_features = _catalog(features, "implicit")
    scenarios: dict[str, list[dict[str, Any]]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        scenarios.setdefault(platform.scenario, []).append(
            {"name": platform.name, "characteristics": platform.characteristics}
        )
    identities: dict[tuple[str, str], str] = {}
    for user in have.values():
        for name, value in user.explicit.items():
            if is_identifier(name):
                identities[(name, _norm(value))] = user.key
    todo = [(index, path) for index, path in enumerate(paths) if user_key(index) not in have]

    async def fetch(item: tuple[int, list[dict[str, Any]]]) -> ProfileOut | None:
        index, path = item
        inputs = {"user": user_key(index), "index": index, "path": path,
                  "explicit_features": explicit_features, "implicit_features": implicit_features,
                  "scenarios": scenarios}  # fmt: skip
        return await ctx.llm.ask("users.profile", PROFILE_INSTRUCTIONS, inputs, ProfileOut, ctx.stats)

    def handle(item: tuple[int, list[dict[str, Any]]], out: ProfileOut | None) -> None:
        if out is None:
            return
        index, path = item
        key = user_key(index)
        explicit = {k.strip(): v for k, v in out.explicit.items()
                    if k.strip() and str(v).strip() and k.strip() not in implicit_features}  # fmt: skip
        for step in path:  # the values assigned top-down are the user's
            explicit.update(step["explicit"])
        if any(name not in explicit for name in explicit_features):
            ctx.stats.rejected["incomplete_profile"] += 1
            return
        implicit: dict[str, dict[str, str]] = {}
        for scenario, offered in scenarios.items():
            prefs = {k.strip(): v for k, v in out.implicit.get(scenario, {}).items() if k.strip()}
            if prefs.get(PREFERRED) not in {p["name"] for p in offered}:
                ctx.stats.rejected["unknown_platform"] += 1
                return
            for step in path:
                for name, value in step["implicit"].items():
                    prefs.setdefault(name, value)
            implicit[scenario] = prefs
        mine = {(name, _norm(value)) for name, value in explicit.items() if is_identifier(name)}
        if any(identities.get(identity, key) != key for identity in mine):
            ctx.stats.rejected["duplicate_identity"] += 1
            return
        identities.update(dict.fromkeys(mine, key))
        ctx.stats.accepted += 1
        ctx.write("users", UserRecord(key=key, explicit=explicit, implicit=implicit))

    await each_in_order(todo, fetch, handle)


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


def _scripted_profile(inputs: dict[str, Any]) -> dict[str, Any]:
    index = int(inputs.get("index") or 0)
    chosen: dict[str, dict[str, str]] = {"explicit": {}, "implicit": {}}
    for step in inputs.get("path") or []:
        for kind in chosen:
            chosen[kind].update(step.get(kind) or {})
    features: dict[str, list[str]] = inputs.get("explicit_features") or {}
    explicit: dict[str, str] = {}
    slots: Counter[str] = Counter()
    for name in [*BASE_IDENTITY, *sorted(f for f in features if is_identifier(f) and f not in BASE_IDENTITY)]:
        explicit[name] = _identifier(name, index, slots)
    explicit.update(chosen["explicit"])
    used = {_norm(v) for v in explicit.values()}
    for offset, name in enumerate(sorted(features)):
        if name in explicit:
            continue
        values = features[name] or [f"{name} {index}"]
        rotation = [values[(index + offset + n) % len(values)] for n in range(len(values))]
        value = next((v for v in rotation if _norm(v) not in used), f"{values[0]} ({name})")
        explicit[name] = value
        used.add(_norm(value))
    base: dict[str, str] = {}
    for offset, (name, values) in enumerate(sorted((inputs.get("implicit_features") or {}).items())):
        fallback = values[(index + offset) % len(values)] if values else "medium"
        base[name] = chosen["implicit"].get(name) or fallback
    implicit: dict[str, dict[str, str]] = {}
    for scenario, offered in sorted((inputs.get("scenarios") or {}).items()):
        if not offered:
            continue
        scores = [sum(base.get(c) == v for c, v in p.get("characteristics", {}).items()) for p in offered]
        tied = [p["name"] for p, s in zip(offered, scores) if s == max(scores)]
        implicit[scenario] = {**base, PREFERRED: tied[(index + stable(scenario)) % len(tied)]}
    return {"explicit": explicit, "implicit": implicit}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"users.profile": _scripted_profile}
