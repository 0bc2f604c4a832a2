"""Stage `features` (paper section 4.2, first half): the user-feature tree, built bottom-up.

Leaf items are the platforms' characteristic names and the APIs' parameter names. One call
(task "features.cluster", level 0) groups the leaves into parent features, each marked explicit
(an observable basic fact: address, phone, email, payment method, age, ...) or implicit (a
latent preference: price sensitivity, speed vs quality, platform affinity, ...), and sets
apart the leaves that are no feature of the user at all (what one request states: item, date,
quantity, destination, ...). From there each kind is clustered on its own ("features.cluster"
with `kind` set: an explicit node is never grouped with an implicit one) until its level has at
most `feature_threshold` nodes. Then task "features.values" gives every feature a handful of
candidate values (explicit: realistic addresses, phone numbers, sizes...; implicit: levels such
as low/medium/high, or platform names).

Output: features.jsonl (FeatureRecord), every node of both trees: `layer` counts from the root
of its own kind's tree (0 = broadest); leaves have no children. Leaf features keep the raw
names: an explicit leaf is named exactly as the API parameter it came from, so a parameter is
profile-sourced iff its name is an explicit feature. Working file: feature_clusters.jsonl
(StepRecord), each clustering answer after validation, so a resumed run asks nothing again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, FeatureRecord, PlatformRecord
from pertool.synth.stages.tools import DOMAINS, each_in_order, is_identifier, stable, tokens

__all__ = ["SCRIPTED", "StepRecord", "leaf_items", "run"]

Kind = Literal["explicit", "implicit"]
KINDS: tuple[Kind, Kind] = ("explicit", "implicit")
STEPS = "feature_clusters"
LEAVES = "leaves"
MAX_ROUNDS = 8  # clustering rounds per kind above the leaves
MAX_VALUES = 8


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Kind
    members: list[str]


class StepRecord(BaseModel):
    """One clustering answer, validated (feature_clusters.jsonl)."""

    model_config = ConfigDict(extra="forbid")
    key: str  # "leaves", or "<kind>/<round>" (round 1 groups the leaves' parents)
    kind: str  # "" for the leaves
    nodes: list[str]
    groups: list[Group]
    not_features: list[str] = Field(default_factory=list)  # leaves a request states (query-sourced)


class ClusterOut(BaseModel):
    groups: list[Group]
    not_features: list[str] = Field(default_factory=list)


class ValuesOut(BaseModel):
    values: list[str]


LEAF_INSTRUCTIONS = (
    "These are the leaf items of a user-feature tree: characteristics of platforms and parameters "
    "of their APIs. Group them into parent features (short names). Mark each group `explicit` "
    "when its members are observable basic facts about the user (name, address, phone, email, "
    "payment method, age, sizes, seat or dietary needs) or `implicit` when they are latent "
    "preferences (price sensitivity, speed vs quality, content style, platform affinity); never "
    "mix the two in one group. List in `not_features` the items that a single request states "
    "rather than the user's profile (item, dish, date, quantity, destination, title, order id)."
)
UPPER_INSTRUCTIONS = (
    "Cluster these {kind} user features into broader parent features (short names), so that the "
    "new level has at most `threshold` nodes. Every node goes into exactly one group; all groups "
    "are {kind}."
)
VALUES_INSTRUCTIONS = (
    "Give a handful (3-8) of concrete candidate values for this user feature. Explicit features "
    "get realistic values (addresses, phone numbers, sizes, payment methods...); implicit ones "
    "levels (low/medium/high), styles, or platform names where the feature is about platforms. "
    "`examples` shows what the leaf items look like; values of a parent should make sense as a "
    "broad category for the values of its children."
)


def leaf_items(platforms: dict[str, PlatformRecord], apis: dict[str, ApiRecord]) -> list[dict[str, Any]]:
    """The leaves: characteristic and parameter names, with where they come from and examples."""
    items: dict[str, tuple[set[str], set[str]]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        for name, value in platform.characteristics.items():
            sources, examples = items.setdefault(name, (set(), set()))
            sources.add("platform characteristic")
            examples.add(value)
    for api in sorted(apis.values(), key=lambda a: a.key):
        properties = api.function.get("parameters", {}).get("properties", {})
        for name, spec in properties.items():
            sources, examples = items.setdefault(name, (set(), set()))
            sources.add("api parameter")
            if spec.get("description"):
                examples.add(str(spec["description"]))
            examples.update(str(v) for v in spec.get("enum") or [])
    return [{"name": name, "sources": sorted(sources), "examples": sorted(examples)[:12]}
            for name, (sources, examples) in sorted(items.items())]  # fmt: skip


def _clean(name: str) -> str:
    return " ".join(str(name).split())


def _unique(name: str, kind: str, members: list[str], taken: set[str]) -> str:
    """A name no other feature has (a group may keep the name of its single member)."""
    if members == [name] or name.lower() not in taken:
        return name
    for n in range(1, 100):
        candidate = f"{name} ({kind})" if n == 1 else f"{name} ({kind} {n})"
        if candidate.lower() not in taken:
            return candidate
    return f"{name} ({kind} {len(taken)})"


def _groups(ctx: StageContext, nodes: list[str], answer: list[Group], kind: Kind | None,
            taken: set[str]) -> tuple[list[Group], set[str]]:  # fmt: skip
    """Validated groups (members known and in one group only) and the nodes they cover."""
    known = set(nodes)
    assigned: set[str] = set()
    out: list[Group] = []
    by_name: dict[tuple[str, str], Group] = {}
    for group in answer:
        group_kind: Kind = kind or group.kind
        members = []
        for member in group.members:
            if member in known and member not in assigned:
                members.append(member)
                assigned.add(member)
            elif member not in known:
                ctx.stats.rejected["unknown_member"] += 1
        name = _clean(group.name)
        if not members or not name:
            continue
        same = by_name.get((name.lower(), group_kind))
        if same is not None:
            same.members.extend(members)
            continue
        unique = _unique(name, group_kind, members, taken)
        taken.add(unique.lower())
        created = Group(name=unique, kind=group_kind, members=members)
        by_name[(name.lower(), group_kind)] = created
        out.append(created)
    return out, assigned


async def _leaf_step(ctx: StageContext, items: list[dict[str, Any]], taken: set[str]) -> StepRecord | None:
    inputs = {"level": 0, "kind": None, "threshold": ctx.config.feature_threshold, "nodes": items}
    out = await ctx.llm.ask("features.cluster", LEAF_INSTRUCTIONS, inputs, ClusterOut, ctx.stats)
    if out is None:
        return None
    names = [item["name"] for item in items]
    groups, assigned = _groups(ctx, names, out.groups, None, taken)
    stated = set(out.not_features)
    not_features = [n for n in names if n not in assigned and n in stated]
    unclustered = sum(1 for n in names if n not in assigned and n not in stated)
    if unclustered:
        ctx.stats.rejected["unclustered_leaf"] += unclustered
    step = StepRecord(key=LEAVES, kind="", nodes=names, groups=groups, not_features=not_features)
    ctx.write(STEPS, step)
    return step


async def _upper_step(ctx: StageContext, kind: Kind, round_: int, level: list[Group],
                      taken: set[str]) -> StepRecord | None:  # fmt: skip
    nodes = [g.name for g in level]
    inputs = {"level": round_, "kind": kind, "threshold": ctx.config.feature_threshold,
              "nodes": [{"name": g.name, "children": g.members} for g in level]}  # fmt: skip
    instructions = UPPER_INSTRUCTIONS.format(kind=kind)
    out = await ctx.llm.ask("features.cluster", instructions, inputs, ClusterOut, ctx.stats)
    if out is None:
        return None
    groups, assigned = _groups(ctx, nodes, out.groups, kind, taken)
    for node in nodes:  # a node left out keeps its place: it is its own parent
        if node not in assigned:
            ctx.stats.rejected["unclustered_node"] += 1
            groups.append(Group(name=node, kind=kind, members=[node]))
    if len(groups) >= len(nodes):
        ctx.stats.rejected["cluster_no_progress"] += 1
    step = StepRecord(key=f"{kind}/{round_}", kind=kind, nodes=nodes, groups=groups)
    ctx.write(STEPS, step)
    return step


Levels = dict[str, list[list[Group]]]  # per kind, the group levels bottom-up


async def _levels(ctx: StageContext, items: list[dict[str, Any]],
                  steps: dict[str, StepRecord]) -> tuple[StepRecord, Levels] | None:  # fmt: skip
    """The leaf step and, per kind, the group levels bottom-up (the last one is the root)."""
    taken = {item["name"].lower() for item in items}
    leaf = steps.get(LEAVES) or await _leaf_step(ctx, items, taken)
    if leaf is None:
        return None
    taken |= {g.name.lower() for g in leaf.groups}
    levels: dict[str, list[list[Group]]] = {}
    for kind in KINDS:
        level = [g for g in leaf.groups if g.kind == kind]
        levels[kind] = [level] if level else []
        for round_ in range(1, MAX_ROUNDS + 1):
            if len(level) <= ctx.config.feature_threshold:
                break
            step = steps.get(f"{kind}/{round_}")
            if step is None:
                step = await _upper_step(ctx, kind, round_, level, taken)
            else:
                taken |= {g.name.lower() for g in step.groups}
            if step is None or len(step.groups) >= len(level):
                break
            level = step.groups
            levels[kind].append(level)
    return leaf, levels


def _tree(kind: Kind, leaf: StepRecord, levels: list[list[Group]],
          examples: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """The features of one kind: name, layer (0 = root), children, parent, examples."""
    if not levels:
        return []
    depth = len(levels) + 1
    nodes: list[dict[str, Any]] = []
    parents: dict[tuple[int, str], str] = {}
    for index, level in enumerate(levels):
        layer = depth - 2 - index
        for group in level:
            nodes.append({"name": group.name, "kind": kind, "layer": layer, "children": list(group.members)})
            for member in group.members:
                parents[(layer + 1, member)] = group.name
    for group in levels[0]:
        for member in group.members:
            item = examples.get(member, {})
            nodes.append({"name": member, "kind": kind, "layer": depth - 1, "children": [],
                          "sources": item.get("sources", []),
                          "examples": item.get("examples", [])})  # fmt: skip
    for node in nodes:
        node["parent"] = parents.get((node["layer"], node["name"]))
    return nodes


async def run(ctx: StageContext) -> None:
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    items = leaf_items(platforms, apis)
    if not items:
        return
    built = await _levels(ctx, items, ctx.dir.read(STEPS, StepRecord))
    if built is None:
        return
    leaf, levels = built
    examples = {item["name"]: item for item in items}
    nodes = [n for kind in KINDS for n in _tree(kind, leaf, levels[kind], examples)]
    nodes.sort(key=lambda n: (n["layer"], n["kind"], n["name"]))
    names: dict[str, list[str]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        names.setdefault(platform.scenario, []).append(platform.name)
    have = ctx.dir.read("features", FeatureRecord)
    todo = [n for n in nodes if f"{n['layer']}/{n['name']}" not in have]

    async def fetch(node: dict[str, Any]) -> ValuesOut | None:
        inputs = {**node, "platforms": names if node["kind"] == "implicit" else {}}
        return await ctx.llm.ask("features.values", VALUES_INSTRUCTIONS, inputs, ValuesOut, ctx.stats)

    def handle(node: dict[str, Any], out: ValuesOut | None) -> None:
        values: list[str] = []
        for value in out.values if out is not None else []:
            value = _clean(value)
            if value and value.lower() not in (v.lower() for v in values):
                values.append(value)
        if out is not None and len(values) < 2:
            ctx.stats.rejected["too_few_values"] += 1
        record = FeatureRecord(key=f"{node['layer']}/{node['name']}", name=node["name"],
                               kind=node["kind"], layer=node["layer"], children=node["children"],
                               values=values[:MAX_VALUES])  # fmt: skip
        ctx.stats.accepted += 1
        ctx.write("features", record)

    await each_in_order(todo, fetch, handle)


# -- the scripted answers ------------------------------------------------------------------------

PROFILE_PARAMS = {p for domain in DOMAINS.values() for p in domain.profile}
_PROFILE_WORDS = {"address", "phone", "email", "mail", "payment", "size", "seat", "dietary", "diet",
                  "language", "calendar", "allergy", "name", "age", "gender", "occupation", "passport",
                  "loyalty"}  # fmt: skip
_EXPLICIT_GROUPS = (
    ({"address", "location", "city"}, "home and delivery"),
    ({"phone", "email", "mail", "mobile", "contact", "name"}, "contact details"),
    ({"payment", "card", "wallet", "billing"}, "payment"),
)
_IMPLICIT_GROUPS = (
    ({"price", "cost", "budget", "fee"}, "price sensitivity"),
    ({"speed", "fast", "delivery", "time", "wait"}, "urgency"),
    ({"quality", "rating", "reliability"}, "quality focus"),
    ({"style", "content", "taste", "design"}, "taste"),
)
VALUE_LISTS: dict[str, list[str]] = {
    # explicit inner features (scripted group names) and leaves by keyword
    "home and delivery": ["city centre", "suburbs", "countryside", "coastal town"],
    "contact details": ["reachable by phone", "reachable by email", "reachable anytime"],
    "payment": ["pays upfront", "pays on delivery", "pays monthly"],
    "lifestyle": ["student", "young professional", "parent", "retiree", "freelancer"],
    "address": [
        "12 Maple Row, Northvale",
        "48 Harbor Lane, Port Ellery",
        "7 Orchard Street, Kingsbridge",
        "230 Birch Avenue, Ashford Bay",
        "19 Quarry Road, Millbrook",
        "5 Linden Court, Cedar Falls",
    ],
    "phone": ["+1-555-210-4471", "+1-555-318-9025", "+1-555-402-1187", "+1-555-577-3390", "+1-555-689-2214"],
    "email": [
        "ava.hartley@mailbox.example",
        "liam.okafor@mailbox.example",
        "maya.lindqvist@mailbox.example",
        "noah.moreau@mailbox.example",
        "iris.tanaka@mailbox.example",
    ],
    "name": ["Ava Hartley", "Liam Okafor", "Maya Lindqvist", "Noah Moreau", "Iris Tanaka"],
    "payment_method": ["credit card", "debit card", "PayFlow wallet", "bank transfer", "cash on delivery"],
    "size": ["size S", "size M", "size L", "size XL"],
    "diet": ["vegetarian", "vegan", "gluten-free", "halal", "lactose-free"],
    "seat": ["window seat", "aisle seat", "extra legroom", "quiet carriage"],
    "language": ["English", "Spanish", "French", "German", "Japanese"],
    # implicit inner features
    "price sensitivity": ["budget-minded", "value-seeking", "price-insensitive"],
    "urgency": ["relaxed", "prompt", "urgent"],
    "quality focus": ["quality-tolerant", "quality-aware", "quality-obsessed"],
    "taste": ["understated", "expressive", "eclectic"],
}
_BROAD = (
    ["lives alone", "shares a flat", "family household", "lives with a partner"],
    ["office worker", "remote worker", "shift worker", "self-employed"],
    ["early riser", "night owl", "weekend planner"],
)
_LEAF_KEYWORDS = (("address", "address"), ("phone", "phone"), ("mobile", "phone"), ("email", "email"),
                  ("mail", "email"), ("payment", "payment_method"), ("size", "size"), ("dietary", "diet"),
                  ("diet", "diet"), ("seat", "seat"), ("language", "language"), ("name", "name"))  # fmt: skip


def _group_for(name: str, table: tuple[tuple[set[str], str], ...], default: str) -> str:
    words = tokens(name)
    return next((group for keys, group in table if words & keys), default)


def _scripted_cluster(inputs: dict[str, Any]) -> dict[str, Any]:
    nodes = [n for n in inputs.get("nodes") or [] if isinstance(n, dict) and n.get("name")]
    kind = inputs.get("kind")
    if kind not in KINDS:  # the leaves: classify and group by what they are about
        grouped: dict[tuple[str, str], list[str]] = {}
        not_features = []
        for node in nodes:
            name = str(node["name"])
            if "platform characteristic" in (node.get("sources") or []):
                key = ("implicit", _group_for(name, _IMPLICIT_GROUPS, f"{name} preference"))
            elif name in PROFILE_PARAMS or tokens(name) & _PROFILE_WORDS or is_identifier(name):
                key = ("explicit", _group_for(name, _EXPLICIT_GROUPS, "lifestyle"))
            else:
                not_features.append(name)
                continue
            grouped.setdefault(key, []).append(name)
        groups = [{"name": g, "kind": k, "members": m} for (k, g), m in sorted(grouped.items())]
        return {"groups": groups, "not_features": not_features}
    names = sorted(str(n["name"]) for n in nodes)
    threshold = max(2, int(inputs.get("threshold") or 4))
    size = max(1, math.ceil(len(names) / threshold))
    groups = []
    for start in range(0, len(names), size):
        chunk = names[start : start + size]
        label = " & ".join(chunk[:2]) + (" & more" if len(chunk) > 2 else "")
        groups.append({"name": label, "kind": kind, "members": chunk})
    return {"groups": groups, "not_features": []}


def _scripted_values(inputs: dict[str, Any]) -> dict[str, Any]:
    name = str(inputs.get("name") or "feature")
    kind = inputs.get("kind")
    examples = [str(e) for e in inputs.get("examples") or []]
    if name in VALUE_LISTS:
        return {"values": VALUE_LISTS[name]}
    if kind == "implicit":
        if "platform characteristic" in (inputs.get("sources") or []) and len(set(examples)) >= 2:
            return {"values": sorted(set(examples))}
        if "platform" in tokens(name):
            platforms = inputs.get("platforms") or {}
            return {"values": sorted({str(p) for names in platforms.values() for p in names}) or ["none"]}
        return {"values": ["low", "medium", "high"]}
    if inputs.get("children"):  # a broader explicit feature: one of a few disjoint lists
        return {"values": _BROAD[stable(name) % len(_BROAD)]}
    words = tokens(name)
    for word, list_name in _LEAF_KEYWORDS:
        if word in words:
            return {"values": VALUE_LISTS[list_name]}
    return {"values": [f"standard {name}", f"custom {name}", f"no {name}"]}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "features.cluster": _scripted_cluster,
    "features.values": _scripted_values,
}
