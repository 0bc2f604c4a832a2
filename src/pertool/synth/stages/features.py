"""Stage `features` (paper section 4.2, first half): the user-feature tree, built bottom-up,
its values filled top-down.

Leaf items are what a profile must hold, named by what they are: the profile features the APIs
declare (`x-source: "profile:<feature>"`, e.g. "home address", "dietary needs"), the
demographics every profile has (age, gender, occupation, income level) — all explicit, observable
facts — and the platforms' characteristic names (price level, speed, ...), implicit: latent
preferences. One call (task "features.cluster", level 0) groups the leaves into parent features;
a group holds leaves of one kind only (a leaf put into a group of the other kind is rejected
"wrong_kind", one named that is no leaf "unknown_member", a leaf left out "unclustered_leaf"; the
answer is asked again once with the problems, and a leaf still left out becomes its own group).
From there each kind is clustered on its own ("features.cluster" with `kind` set; a node left
out "unclustered_node", a level that does not shrink "cluster_no_progress") until a level has at
most `feature_threshold` nodes.

Values are generated top-down (task "features.values"): a root feature's `values`, then, for
each child feature, its values for EACH value of its parent (`values_by_parent`, the parent's
value in the inputs), so a child never contradicts its parent ("budget-minded" gets the low price
levels). A child's `values` are the union, capped at MAX_UNION (taken round-robin over the
parent's values, so each keeps its first; `values_by_parent` keeps only those), and a feature
asks once per parent value, at most MAX_UNION times: the calls per feature stay bounded however
deep the tree, instead of growing with the product of the value counts above it. An answer
with fewer than two values (one for a parent value) is rejected "too_few_values", one with a
placeholder value ("home address 2") "placeholder_value"; either is asked again once.

Output: features.jsonl (FeatureRecord), every node of both trees: `layer` counts from the root
of its own kind's tree (0 = broadest); leaves have no children. Working file:
feature_clusters.jsonl (StepRecord), each clustering answer after validation, so a resumed run
asks nothing again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, FeatureRecord, PlatformRecord
from pertool.synth.stages.tools import (
    FEATURE_VALUES,
    Problems,
    ask_checked,
    each_in_order,
    fault_of,
    is_placeholder,
    source_of,
    stable,
    tokens,
)  # fmt: skip

__all__ = ["DEMOGRAPHICS", "SCRIPTED", "StepRecord", "leaf_items", "run"]

Kind = Literal["explicit", "implicit"]
KINDS: tuple[Kind, Kind] = ("explicit", "implicit")
STEPS = "feature_clusters"
LEAVES = "leaves"
MAX_ROUNDS = 8  # clustering rounds per kind above the leaves
MAX_VALUES = 8  # per answer
MAX_UNION = 3 * MAX_VALUES  # a child's values over all its parent's values
DEMOGRAPHICS = ("age", "gender", "occupation", "income level")  # in every profile


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


class ClusterOut(BaseModel):
    groups: list[Group]


class ValuesOut(BaseModel):
    values: list[str]


LEAF_INSTRUCTIONS = (
    "These are the leaf items of a user-feature tree, each with its `kind`: explicit ones are "
    "observable facts about the user (address, phone, payment method, age, sizes, dietary needs), "
    "implicit ones latent preferences (the platforms' characteristics: price level, speed, "
    "quality, style). Group them into broader parent features, each named by what it is in a "
    'few plain words (e.g. "contact details", "life stage", "price sensitivity"). A group '
    "has one kind and holds only leaves of that kind; every leaf goes into exactly one group."
)
UPPER_INSTRUCTIONS = (
    "Cluster these {kind} user features into broader parent features (named by what they are), so "
    "that the new level has at most `threshold` nodes. Every node goes into exactly one group; all "
    "groups are {kind}."
)
VALUES_INSTRUCTIONS = (
    "Give a handful (3-8) of concrete candidate values for this user feature. Explicit features "
    "get realistic values (addresses, phone numbers, ages, occupations, payment methods...); "
    "implicit ones levels or styles (e.g. budget-minded / value-seeking / price-insensitive). "
    "When `parent_value` is given, the values are for a user whose `parent` feature has that "
    "value: they must fit it and never contradict it (a budget-minded user prefers low price "
    "levels). `examples` shows what the leaf items look like. Never placeholders such as "
    '"<feature> 1".'
)


def leaf_items(platforms: dict[str, PlatformRecord], apis: dict[str, ApiRecord]) -> list[dict[str, Any]]:
    """The leaves: the declared profile features and the demographics (explicit) and the
    platforms' characteristic names (implicit), with where they come from and examples."""
    items: dict[str, tuple[Kind, set[str], set[str]]] = {}
    for api in sorted(apis.values(), key=lambda a: a.key):
        properties = api.function.get("parameters", {}).get("properties", {})
        for spec in properties.values():
            kind, name = source_of(spec)
            if kind != "profile":
                continue
            _, sources, examples = items.setdefault(name, ("explicit", set(), set()))
            sources.add("api parameter")
            examples.update(str(v) for v in spec.get("examples") or [])
    for name in DEMOGRAPHICS:
        items.setdefault(name, ("explicit", set(), set()))[1].add("demographic")
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        for name, value in platform.characteristics.items():
            if name in items and items[name][0] == "explicit":
                continue  # already a profile fact: one feature, one kind
            _, sources, examples = items.setdefault(name, ("implicit", set(), set()))
            sources.add("platform characteristic")
            examples.add(value)
    return [{"name": name, "kind": kind, "sources": sorted(sources), "examples": sorted(examples)[:12]}
            for name, (kind, sources, examples) in sorted(items.items())]  # fmt: skip


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


def _group_problems(nodes: dict[str, Kind], answer: list[Group], kind: Kind | None) -> Problems:
    """Members that are no node, sit in a group of the other kind, or are left out."""
    problems: Problems = []
    placed: set[str] = set()
    for group in answer:
        group_kind = kind or group.kind
        for member in group.members:
            if member not in nodes:
                problems.append(("unknown_member", f"{member!r} is not one of the nodes"))
            elif nodes[member] != group_kind:
                problems.append(
                    ("wrong_kind", f"{member!r} is {nodes[member]}, its group {group.name!r} {group_kind}")
                )
            placed.add(member)
    left = [n for n in nodes if n not in placed]
    if left:
        problems.append(
            ("unclustered_leaf" if kind is None else "unclustered_node", f"{left} are in no group")
        )
    return problems


def _groups(nodes: dict[str, Kind], answer: list[Group], kind: Kind | None, taken: set[str]) -> list[Group]:
    """The valid part of an answer (members known, of the group's kind, in one group only);
    every node left out becomes its own group."""
    assigned: set[str] = set()
    out: list[Group] = []
    by_name: dict[tuple[str, str], Group] = {}
    for group in answer:
        group_kind: Kind = kind or group.kind
        members = [m for m in group.members if nodes.get(m) == group_kind and m not in assigned]
        assigned.update(members)
        name = _clean(group.name)
        if not members or not name:
            assigned.difference_update(members)
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
    for node, node_kind in nodes.items():  # a node left out keeps its place: it is its own parent
        if node not in assigned:
            out.append(Group(name=node, kind=node_kind, members=[node]))
    return out


async def _step(ctx: StageContext, key: str, kind: Kind | None, nodes: dict[str, Kind], instructions: str,
                inputs: dict[str, Any], taken: set[str]) -> StepRecord | None:  # fmt: skip
    def check(out: ClusterOut) -> Problems:
        problems = _group_problems(nodes, out.groups, kind)
        if kind is not None and not problems and len(out.groups) >= len(nodes):
            problems.append(("cluster_no_progress", f"{len(out.groups)} groups for {len(nodes)} nodes"))
        return problems

    out, _ = await ask_checked(ctx, "features.cluster", instructions, inputs, ClusterOut, check)
    if out is None:
        return None
    groups = _groups(nodes, out.groups, kind, taken)
    step = StepRecord(key=key, kind=kind or "", nodes=list(nodes), groups=groups)
    ctx.write(STEPS, step)
    return step


Levels = dict[str, list[list[Group]]]  # per kind, the group levels bottom-up


async def _levels(ctx: StageContext, items: list[dict[str, Any]],
                  steps: dict[str, StepRecord]) -> tuple[StepRecord, Levels] | None:  # fmt: skip
    """The leaf step and, per kind, the group levels bottom-up (the last one is the root)."""
    taken = {item["name"].lower() for item in items}
    leaf = steps.get(LEAVES)
    if leaf is None:
        inputs = {"level": 0, "kind": None, "threshold": ctx.config.feature_threshold, "nodes": items}
        kinds = {item["name"]: item["kind"] for item in items}
        leaf = await _step(ctx, LEAVES, None, kinds, LEAF_INSTRUCTIONS, inputs, taken)
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
                upper = {"level": round_, "kind": kind, "threshold": ctx.config.feature_threshold,
                         "nodes": [{"name": g.name, "children": g.members} for g in level]}  # fmt: skip
                same_kind = dict.fromkeys((g.name for g in level), kind)
                instructions = UPPER_INSTRUCTIONS.format(kind=kind)
                step = await _step(ctx, f"{kind}/{round_}", kind, same_kind, instructions, upper, taken)
            else:
                taken |= {g.name.lower() for g in step.groups}
            if step is None or len(step.groups) >= len(level):
                break
            level = step.groups
            levels[kind].append(level)
    return leaf, levels


def _tree(kind: Kind, levels: list[list[Group]], examples: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
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


def _distinct(values: list[str], limit: int | None = MAX_VALUES) -> list[str]:
    out: list[str] = []
    for value in values:
        value = _clean(value)
        if value and value.lower() not in (v.lower() for v in out):
            out.append(value)
    return out[:limit]


def _value_problems(name: str, values: list[str], fewest: int) -> Problems:
    placeholders = [v for v in values if is_placeholder(name, v)]
    if placeholders:
        return [("placeholder_value", f"{placeholders[:2]} only repeat the feature's name")]
    if len(_distinct(values)) < fewest:
        return [("too_few_values", f"fewer than {fewest} distinct values")]
    return []


async def run(ctx: StageContext) -> None:
    platforms = ctx.dir.read("platforms", PlatformRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    items = leaf_items(platforms, apis)
    if not items:
        return
    built = await _levels(ctx, items, ctx.dir.read(STEPS, StepRecord))
    if built is None:
        return
    _, levels = built
    examples = {item["name"]: item for item in items}
    nodes = [n for kind in KINDS for n in _tree(kind, levels[kind], examples)]
    nodes.sort(key=lambda n: (n["layer"], n["kind"], n["name"]))
    names: dict[str, list[str]] = {}
    for platform in sorted(platforms.values(), key=lambda p: p.key):
        names.setdefault(platform.scenario, []).append(platform.name)
    have = {(f.layer, f.name): f for f in ctx.dir.read("features", FeatureRecord).values()}

    async def ask(node: dict[str, Any], parent: FeatureRecord | None, value: str) -> list[str]:
        inputs = {**node, "platforms": names if node["kind"] == "implicit" else {}}
        if parent is not None:
            inputs |= {"parent": parent.name, "parent_values": parent.values, "parent_value": value}
        fewest = 1 if parent is not None else 2

        def check(out: ValuesOut) -> Problems:
            return _value_problems(node["name"], out.values, fewest)

        out, _ = await ask_checked(ctx, "features.values", VALUES_INSTRUCTIONS, inputs, ValuesOut, check)
        return _distinct([v for v in out.values if not is_placeholder(node["name"], v)]) if out else []

    async def fetch(node: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
        parent = have.get((node["layer"] - 1, node["parent"])) if node["parent"] else None
        if parent is None or not parent.values:
            return await ask(node, None, ""), {}
        asked = parent.values[:MAX_UNION]  # one call per parent value, never more than MAX_UNION
        answers = await asyncio.gather(*(ask(node, parent, value) for value in asked))
        values = _distinct([a[i] for i in range(MAX_VALUES) for a in answers if i < len(a)], MAX_UNION)
        canon = {v.lower(): v for v in values}  # each value as the union spells it
        by_parent = {value: kept for value, answer in zip(asked, answers)
                     if (kept := [canon[v.lower()] for v in answer if v.lower() in canon])}  # fmt: skip
        return values, by_parent

    def handle(node: dict[str, Any], answer: tuple[list[str], dict[str, list[str]]]) -> None:
        values, by_parent = answer
        record = FeatureRecord(key=f"{node['layer']}/{node['name']}", name=node["name"], kind=node["kind"],
                               layer=node["layer"], children=node["children"], values=values,
                               parent=node["parent"], values_by_parent=by_parent)  # fmt: skip
        ctx.stats.accepted += 1
        ctx.write("features", record)
        have[(record.layer, record.name)] = record

    for layer in sorted({n["layer"] for n in nodes}):  # top-down: a layer's parents are written first
        todo = [n for n in nodes if n["layer"] == layer and (layer, n["name"]) not in have]
        await each_in_order(todo, fetch, handle)


# -- the scripted answers ------------------------------------------------------------------------

_EXPLICIT_GROUPS = (
    ({"phone", "email", "mail", "mobile", "contact", "name"}, "contact details"),
    ({"address", "location", "city"}, "home and work"),
    ({"payment", "card", "wallet", "billing"}, "payment"),
    ({"age", "gender", "occupation", "income", "job"}, "life stage"),
)
_IMPLICIT_GROUPS = (
    ({"price", "cost", "budget", "fee"}, "price sensitivity"),
    ({"speed", "fast", "delivery", "time", "wait"}, "urgency"),
    ({"quality", "rating", "reliability"}, "quality focus"),
    ({"style", "content", "taste", "design"}, "taste"),
)
# Ordered scales: the scripted child values of a parent's i-th value are the i-th window of the
# child's scale, so the scales run in the same direction (frugal ... indulgent).
SCALES: dict[str, list[str]] = {
    "price sensitivity": ["budget-minded", "value-seeking", "price-insensitive"],
    "urgency": ["relaxed", "prompt", "urgent"],
    "quality focus": ["quality-tolerant", "quality-aware", "quality-obsessed"],
    "taste": ["understated", "expressive", "eclectic"],
    "price level": ["low", "moderate", "high"],
    "speed": ["slow", "average", "fast"],
    "quality": ["basic", "decent", "excellent"],
}
_UPPER_IMPLICIT = ["frugal", "balanced", "indulgent"]
_ROOTS = {"life stage"}
_UPPER_NAMES = {
    "explicit": ("household", "work pattern", "daily rhythm"),
    "implicit": ("spending style", "lifestyle pace", "discernment"),
}
LIFE_STAGES = ["student", "young professional", "parent", "retiree", "freelancer"]
# What a life stage implies for the demographics (the scripted top-down values).
BY_LIFE_STAGE: dict[str, dict[str, list[str]]] = {
    "age": {"student": ["16", "17", "19", "21", "23"], "young professional": ["25", "27", "29", "32"],
            "parent": ["34", "38", "42", "46"], "retiree": ["66", "69", "72", "77"],
            "freelancer": ["26", "31", "37", "44"]},
    "occupation": {"student": ["high-school student", "university student"],
                   "young professional": ["software developer", "nurse", "marketing associate", "accountant"],
                   "parent": ["teacher", "project manager", "electrician", "pharmacist"],
                   "retiree": ["retired teacher", "retired engineer", "retired nurse"],
                   "freelancer": ["graphic designer", "photographer", "translator"]},
    "income level": {"student": ["low"], "young professional": ["middle", "upper-middle"],
                     "parent": ["middle", "upper-middle", "high"], "retiree": ["low", "middle"],
                     "freelancer": ["low", "middle", "high"]},
}  # fmt: skip
OWN_VALUES: dict[str, list[str]] = {
    "home and work": ["city centre", "suburbs", "countryside", "coastal town"],
    "contact details": ["reachable by phone", "reachable by email", "reachable anytime"],
    "payment": ["pays upfront", "pays on delivery", "pays monthly"],
    "life stage": LIFE_STAGES,
    "gender": ["female", "male", "non-binary"],
    "age": ["19", "27", "38", "46", "69"],
    "occupation": ["university student", "nurse", "teacher", "graphic designer", "retired engineer"],
    "income level": ["low", "middle", "upper-middle", "high"],
    **{name: list(values) for name, values in FEATURE_VALUES.items()},
    **SCALES,
}
_BROAD = (
    ["lives alone", "shares a flat", "family household", "lives with a partner"],
    ["office worker", "remote worker", "shift worker", "self-employed"],
    ["early riser", "night owl", "weekend planner"],
)


def _group_for(name: str, table: tuple[tuple[set[str], str], ...], default: str) -> str:
    words = tokens(name)
    return next((group for keys, group in table if words & keys), default)


def _scripted_cluster(inputs: dict[str, Any]) -> dict[str, Any]:
    nodes = [n for n in inputs.get("nodes") or [] if isinstance(n, dict) and n.get("name")]
    kind = inputs.get("kind")
    first = not inputs.get("rejected")  # a first answer carries a few wrong placements
    if kind not in KINDS:  # the leaves: group by what they are about, within their kind
        grouped: dict[tuple[str, str], list[str]] = {}
        for node in nodes:
            name, node_kind = str(node["name"]), str(node.get("kind"))
            if node_kind == "implicit":
                key = ("implicit", _group_for(name, _IMPLICIT_GROUPS, f"{name} preference"))
            else:
                key = ("explicit", _group_for(name, _EXPLICIT_GROUPS, "personal needs"))
            grouped.setdefault(key, []).append(name)
        groups: list[dict[str, Any]] = [
            {"name": g, "kind": k, "members": m} for (k, g), m in sorted(grouped.items())
        ]
        if first and len(groups) >= 2 and sum(len(g["members"]) for g in groups) >= 6:
            moved = groups[0]["members"].pop()  # into a group of the other kind
            other = (
                next(g for g in groups if g["kind"] != groups[0]["kind"])
                if len({g["kind"] for g in groups}) > 1
                else groups[-1]
            )
            other["members"].append(moved)
            groups[-1]["members"].append("loyalty tier")  # no such leaf
            groups[-1]["members"].pop(0)  # one leaf left out
            groups = [g for g in groups if g["members"]]
        return {"groups": groups}
    names = sorted(str(n["name"]) for n in nodes)
    threshold = max(2, int(inputs.get("threshold") or 4))
    if first and kind == "explicit":  # no progress: every node alone
        return {"groups": [{"name": f"{n} group", "kind": kind, "members": [n]} for n in names]}
    alone = [n for n in names if n in _ROOTS]  # stays a root: what it implies is in BY_LIFE_STAGE
    rest = [n for n in names if n not in _ROOTS]
    size = max(1, math.ceil(len(rest) / max(1, threshold - len(alone))))
    labels = _UPPER_NAMES[str(kind)]
    groups = [{"name": n, "kind": kind, "members": [n]} for n in alone]
    for number, start in enumerate(range(0, len(rest), size)):
        chunk = rest[start : start + size]
        label = labels[number] if number < len(labels) else " & ".join(chunk[:2])
        groups.append({"name": label, "kind": kind, "members": chunk})
    if first and kind == "implicit" and len(groups[-1]["members"]) > 1:
        groups[-1]["members"].pop()  # one node left out
    return {"groups": groups}


_VALUE_FAULTS = ("placeholder_value", "too_few_values")


def _window(scale: list[str], index: int, count: int) -> list[str]:
    """The index-th of `count` overlapping windows of an ordered scale (at least two values)."""
    width = min(len(scale), max(2, math.ceil(len(scale) / max(1, count))))
    start = round(index * (len(scale) - width) / max(1, count - 1))
    return scale[start : start + width]


def _own_values(inputs: dict[str, Any]) -> list[str]:
    name = str(inputs.get("name") or "feature")
    kind = inputs.get("kind")
    examples = [str(e) for e in inputs.get("examples") or []]
    if name in OWN_VALUES:
        return list(OWN_VALUES[name])
    if kind == "implicit":
        if "platform characteristic" in (inputs.get("sources") or []) and len(set(examples)) >= 2:
            return sorted(set(examples))
        if "platform" in tokens(name):
            platforms = inputs.get("platforms") or {}
            return sorted({str(p) for names in platforms.values() for p in names}) or ["none"]
        return list(_UPPER_IMPLICIT)
    if inputs.get("children"):  # a broader explicit feature: one of a few disjoint lists
        upper = _UPPER_NAMES["explicit"]
        return list(_BROAD[upper.index(name) if name in upper else stable(name) % len(_BROAD)])
    return examples[:6] if len(examples) >= 2 else ["standard", "custom", "none"]


def _scripted_values(inputs: dict[str, Any]) -> dict[str, Any]:
    name = str(inputs.get("name") or "feature")
    fault = fault_of("features.values", inputs, _VALUE_FAULTS)
    if fault == "placeholder_value":
        return {"values": [f"{name} {n}" for n in range(1, 4)]}
    values = _own_values(inputs)
    parent_value = str(inputs.get("parent_value") or "")
    if parent_value:
        implied = BY_LIFE_STAGE.get(name, {}).get(parent_value)
        parent_values = [str(v) for v in inputs.get("parent_values") or []]
        if implied:
            values = implied
        elif inputs.get("parent") == name:  # a group that kept its single member's name
            values = [parent_value]
        elif inputs.get("kind") == "implicit" and parent_value in parent_values:
            values = _window(values, parent_values.index(parent_value), len(parent_values))
    if fault == "too_few_values":
        values = []
    return {"values": values}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "features.cluster": _scripted_cluster,
    "features.values": _scripted_values,
}
