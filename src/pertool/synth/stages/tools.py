"""Stage `tools` (paper section 4.1): tool generation as an API tree.

Scenario (config) -> platforms with distinct characteristics (task "tools.platforms") ->
depth-first refinement of the scenario's functionality (task "tools.refine", up to `branching`
children per node, down to `tree_depth`) -> one OpenAI function spec per leaf (task
"tools.api"), validated (rejected "invalid_api_spec") -> near-duplicates merged (same name, or a
token similarity of name + description >= 0.8; the first in depth-first order is kept, the
others are counted as rejected "near_duplicate" and listed in its `merged_from`).

APIs belong to the scenario: every platform of the scenario offers all of them (as in the
built-in benchmark), so the platform is a choice the user's preferences decide.

Output: platforms.jsonl (PlatformRecord) and apis.jsonl (ApiRecord; `function` is the bare
function spec {name, description, parameters}, without the {"type": "function"} wrapper).
Two working files make a resumed run repeat no request even without the response cache:

    functionality.jsonl   NodeRecord    each refined node of the functionality tree
    api_drafts.jsonl      DraftRecord   each leaf's spec as answered, with its problem if invalid

A scenario's APIs are written once all its leaves have drafts; merging is a pure function of the
drafts, so a resumed run recomputes it and writes only the missing records.

Helpers shared with the other stage modules live here too: `each_in_order` (concurrent asks,
records written in a fixed order), `tokens`, `is_identifier` and the scripted vocabulary.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, PlatformRecord, ScenarioConfig
from pertool.synth.stages import environment  # ToolSpectrum mode (ts)

__all__ = [
    "SCRIPTED", "DraftRecord", "NodeRecord", "each_in_order", "is_identifier", "merge_near_duplicates",
    "near_duplicate", "run", "similarity", "tokens", "validate_function",
]  # fmt: skip

T = TypeVar("T")
U = TypeVar("U")

NODES = "functionality"
DRAFTS = "api_drafts"
PARAM_TYPES = ("string", "integer", "number", "boolean")
SIMILARITY = 0.8  # token similarity at or above which two APIs are near-duplicates
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# -- helpers shared by the stage modules ------------------------------------------------------


async def each_in_order(items: Sequence[T], fetch: Callable[[T], Awaitable[U]],
                        handle: Callable[[T, U], None]) -> None:  # fmt: skip
    """Run `fetch` on all items concurrently (the LLM bounds concurrency), and `handle` each
    result in the items' order as soon as it and those before it are in: records are written
    early and the files' order is deterministic. When a fetch fails (the server gave up), the
    others still finish and are handled, so what was answered is kept; then the first error is
    raised."""
    tasks = [asyncio.ensure_future(fetch(item)) for item in items]
    failure: Exception | None = None
    try:
        for item, task in zip(items, tasks):
            try:
                result = await task
            except Exception as exc:  # re-raised below, once the others are in
                failure = failure or exc
                continue
            handle(item, result)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if failure is not None:
        raise failure


_STOP = {"a", "an", "and", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
         "with", "this", "that", "given", "user", "users"}  # fmt: skip


def tokens(text: str) -> set[str]:
    """Lower-case content words of a name or text (camelCase and snake_case split, plural cut)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    out = set()
    for word in re.findall(r"[a-z0-9]+", spaced.lower()):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return out


_IDENTIFIER_WORDS = {"name", "username", "phone", "mobile", "telephone", "email", "mail", "address",
                     "id", "passport", "birthday"}  # fmt: skip


def is_identifier(feature: str) -> bool:
    """A personal identifier (name, phone, email, an address, an id): unique to one user, so
    never a value shared by a group of users in the top-down assignment."""
    return bool(tokens(feature) & _IDENTIFIER_WORDS)


def stable(text: str) -> int:
    """A hash that is the same in every process (str hash() is salted)."""
    return zlib.crc32(text.encode("utf-8"))


# -- records of the working files --------------------------------------------------------------


class NodeRecord(BaseModel):
    """A refined node of a scenario's functionality tree (functionality.jsonl)."""

    model_config = ConfigDict(extra="forbid")
    key: str  # "<scenario>/<path joined by ' > '>" ("<scenario>/" for the root)
    scenario: str
    path: list[str]
    children: list[str] = Field(default_factory=list)  # empty: a leaf


class DraftRecord(BaseModel):
    """A leaf's API spec as the model answered it (api_drafts.jsonl)."""

    model_config = ConfigDict(extra="forbid")
    key: str  # the leaf's node key
    scenario: str
    path: list[str]
    function: dict[str, Any]
    problem: str = ""  # why the spec is invalid; "" when valid


def node_key(scenario: str, path: Sequence[str]) -> str:
    return f"{scenario}/{' > '.join(path)}"


# -- output models (their JSON schemas are sent to the model) ------------------------------------


class PlatformOut(BaseModel):
    name: str
    characteristics: dict[str, str]
    policy: list[str] = Field(default_factory=list)


class PlatformsOut(BaseModel):
    platforms: list[PlatformOut]


class RefineOut(BaseModel):
    children: list[str] = Field(default_factory=list)
    leaf: bool = False


class ParamOut(BaseModel):
    type: str
    description: str = ""
    enum: list[Any] | None = None


class ParametersOut(BaseModel):
    type: str = "object"
    properties: dict[str, ParamOut]
    required: list[str] = Field(default_factory=list)


class ApiOut(BaseModel):
    name: str
    description: str
    parameters: ParametersOut


PLATFORMS_INSTRUCTIONS = (
    "Invent `count` competing platforms (apps) that serve the scenario. Give each a short unique "
    "name and 3-5 characteristics (e.g. price level, speed, quality, content style) as a dict of "
    "short feature -> value strings, using the same feature names for every platform; the "
    "platforms must differ clearly so that a user's preferences single one out. When "
    "`environment` is true, also give each platform 1-3 policy rules it enforces, each one "
    'sentence (e.g. "Users under 18 may not buy items over 2,000"); otherwise an empty policy.'
)
REFINE_INSTRUCTIONS = (
    "Refine a functionality of the scenario's platforms depth-first. `path` is the functionality "
    "so far (empty: the whole scenario). Return up to `branching` distinct, more specific child "
    "functionalities (short verb or noun phrases), or `leaf: true` when it is already one concrete "
    "operation that a single API call performs."
)
API_INSTRUCTIONS = (
    "Write the API that performs the functionality at the end of `path`, as an OpenAI function "
    "spec: a camelCase name, a one-sentence description, and JSON-schema parameters (type object; "
    "each property with a type among string, integer, number, boolean, a description and an "
    "optional enum; `required` lists property names). Include at least one parameter the user's "
    "profile supplies (e.g. delivery address, phone, email, payment method, seat preference, "
    "dietary needs) and at least one the user states in the request (e.g. item, date, "
    "destination, quantity). Name profile parameters by the profile fact in snake_case "
    "(delivery_address, payment_method)."
)


# -- validation and merging --------------------------------------------------------------------


def function_of(out: ApiOut) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, param in out.parameters.properties.items():
        spec: dict[str, Any] = {"type": param.type, "description": param.description}
        if param.enum is not None:
            spec["enum"] = list(param.enum)
        properties[name] = spec
    return {"name": out.name.strip(), "description": out.description.strip(),
            "parameters": {"type": out.parameters.type, "properties": properties,
                           "required": list(out.parameters.required)}}  # fmt: skip


_ENUM_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                            "boolean": (bool,)}  # fmt: skip


def validate_function(function: dict[str, Any]) -> str:
    """Why an OpenAI function spec is unusable; "" when it is valid."""
    name = function.get("name")
    if not isinstance(name, str) or not _IDENT.match(name):
        return f"name {name!r} is not an identifier"
    if not str(function.get("description") or "").strip():
        return "no description"
    parameters = function.get("parameters")
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        return "parameters are not an object schema"
    properties = parameters.get("properties")
    if not isinstance(properties, dict) or len(properties) < 2:
        return "fewer than two parameters (one from the profile, one from the query)"
    for param, spec in properties.items():
        if not _IDENT.match(str(param)):
            return f"parameter {param!r} is not an identifier"
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in PARAM_TYPES:
            return f"parameter {param!r} has type {kind!r}"
        enum = spec.get("enum")
        if enum is not None and (not isinstance(enum, list) or not enum or not all(
                isinstance(v, _ENUM_TYPES[kind]) and not (kind != "boolean" and isinstance(v, bool))
                for v in enum)):  # fmt: skip
            return f"parameter {param!r} has an enum that does not fit its type"
    required = parameters.get("required", [])
    if not isinstance(required, list) or len(set(required)) != len(required):
        return "required is not a list of distinct names"
    unknown = [r for r in required if r not in properties]
    if unknown:
        return f"required names unknown parameters {unknown}"
    return ""


def similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Jaccard similarity of the content words of two specs' names and descriptions."""
    ta = tokens(str(a.get("name", ""))) | tokens(str(a.get("description", "")))
    tb = tokens(str(b.get("name", ""))) | tokens(str(b.get("description", "")))
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def near_duplicate(a: dict[str, Any], b: dict[str, Any]) -> bool:
    same_name = str(a.get("name", "")).lower() == str(b.get("name", "")).lower()
    return same_name or similarity(a, b) >= SIMILARITY


Spec = dict[str, Any]


def merge_near_duplicates(drafts: Sequence[tuple[str, Spec]]) -> list[tuple[str, Spec, list[str]]]:
    """(key, function) pairs -> (kept key, function, keys folded into it); the first one of a
    group of near-duplicates (in the given order) is kept."""
    kept: list[tuple[str, Spec, list[str]]] = []
    for key, function in drafts:
        for _, other, folded in kept:
            if near_duplicate(function, other):
                folded.append(key)
                break
        else:
            kept.append((key, function, []))
    return kept


# -- the stage ----------------------------------------------------------------------------------


async def run(ctx: StageContext) -> None:
    platforms = ctx.dir.read("platforms", PlatformRecord)
    nodes = ctx.dir.read(NODES, NodeRecord)
    drafts = ctx.dir.read(DRAFTS, DraftRecord)
    apis = ctx.dir.read("apis", ApiRecord)
    for scenario in sorted(ctx.config.scenarios, key=lambda s: s.name):
        await _platforms(ctx, scenario, platforms)
        if ctx.config.environment:  # ToolSpectrum mode (ts): factors, platform rules, parameters
            await environment.environments(ctx, scenario)
        leaves: list[list[str]] = []
        await _refine(ctx, scenario, [], nodes, leaves)
        await _drafts(ctx, scenario, leaves, drafts)
        _write_apis(ctx, scenario, leaves, drafts, apis)
        if ctx.config.environment:  # ToolSpectrum mode (ts): prohibitions, checkable
            await environment.policies(ctx, scenario)


async def _platforms(ctx: StageContext, scenario: ScenarioConfig, have: dict[str, PlatformRecord]) -> None:
    """Ask for the scenario's platforms unless all are written (a partly written set is asked
    again: the response cache answers it, and only the missing records are written)."""
    mine = [p for p in have.values() if p.scenario == scenario.name]
    if len(mine) >= scenario.platforms:
        return
    inputs = {"scenario": scenario.name, "description": scenario.description, "count": scenario.platforms,
              "environment": ctx.config.environment}  # fmt: skip
    out = await ctx.llm.ask("tools.platforms", PLATFORMS_INSTRUCTIONS, inputs, PlatformsOut, ctx.stats)
    if out is None:
        return
    accepted = list(mine)
    written = {p.key for p in mine}  # by an earlier, interrupted run
    for candidate in out.platforms:
        if len(accepted) >= scenario.platforms:
            break
        name = candidate.name.strip()
        key = f"{scenario.name}/{name}"
        if key in written:
            written.discard(key)
            continue
        characteristics = {k.strip(): str(v).strip() for k, v in candidate.characteristics.items()
                           if k.strip() and str(v).strip()}  # fmt: skip
        policy = [rule.strip() for rule in candidate.policy if rule.strip()][:3]
        if not name or "/" in name:
            ctx.stats.rejected["invalid_platform"] += 1
            continue
        if not 3 <= len(characteristics) <= 5:
            ctx.stats.rejected["invalid_characteristics"] += 1
            continue
        if any(p.name.lower() == name.lower() or p.characteristics == characteristics for p in accepted):
            ctx.stats.rejected["duplicate_platform"] += 1
            continue
        if ctx.config.environment and not policy:
            ctx.stats.rejected["missing_policy"] += 1
            continue
        record = PlatformRecord(key=key, scenario=scenario.name, name=name, characteristics=characteristics,
                                policy=policy if ctx.config.environment else [])  # fmt: skip
        ctx.stats.accepted += 1
        ctx.write("platforms", record)
        have[key] = record
        accepted.append(record)


async def _refine(ctx: StageContext, scenario: ScenarioConfig, path: list[str], nodes: dict[str, NodeRecord],
                  leaves: list[list[str]]) -> None:  # fmt: skip
    """Depth-first: the leaves under `path`, in order, appended to `leaves`. A node the model
    could not refine (invalid output) stands as a leaf."""
    if len(path) >= ctx.config.tree_depth:
        leaves.append(path)
        return
    key = node_key(scenario.name, path)
    node = nodes.get(key)
    if node is None:
        inputs = {"scenario": scenario.name, "description": scenario.description, "path": path,
                  "depth": len(path), "max_depth": ctx.config.tree_depth,
                  "branching": ctx.config.branching}  # fmt: skip
        out = await ctx.llm.ask("tools.refine", REFINE_INSTRUCTIONS, inputs, RefineOut, ctx.stats)
        if out is None:
            leaves.append(path)
            return
        children: list[str] = []
        for child in [] if out.leaf else out.children:
            child = " ".join(child.split())
            if child and child.lower() not in (c.lower() for c in children) and child not in path:
                children.append(child)
        children = children[: ctx.config.branching]
        node = NodeRecord(key=key, scenario=scenario.name, path=path, children=children)
        ctx.write(NODES, node)
        nodes[key] = node
    if not node.children:
        leaves.append(path)
    for child in node.children:
        await _refine(ctx, scenario, [*path, child], nodes, leaves)


async def _drafts(ctx: StageContext, scenario: ScenarioConfig, leaves: list[list[str]],
                  drafts: dict[str, DraftRecord]) -> None:  # fmt: skip
    todo = [leaf for leaf in leaves if node_key(scenario.name, leaf) not in drafts]

    async def fetch(leaf: list[str]) -> ApiOut | None:
        inputs = {"scenario": scenario.name, "description": scenario.description, "path": leaf}
        return await ctx.llm.ask("tools.api", API_INSTRUCTIONS, inputs, ApiOut, ctx.stats)

    def handle(leaf: list[str], out: ApiOut | None) -> None:
        if out is None:
            return
        function = function_of(out)
        problem = validate_function(function)
        if problem:
            ctx.stats.rejected["invalid_api_spec"] += 1
        draft = DraftRecord(key=node_key(scenario.name, leaf), scenario=scenario.name, path=leaf,
                            function=function, problem=problem)  # fmt: skip
        ctx.write(DRAFTS, draft)
        drafts[draft.key] = draft

    await each_in_order(todo, fetch, handle)


def _write_apis(ctx: StageContext, scenario: ScenarioConfig, leaves: list[list[str]],
                drafts: dict[str, DraftRecord], apis: dict[str, ApiRecord]) -> None:  # fmt: skip
    valid = [drafts[k] for k in (node_key(scenario.name, leaf) for leaf in leaves)
             if k in drafts and not drafts[k].problem]  # fmt: skip
    by_key = {d.key: d for d in valid}
    for kept, function, folded in merge_near_duplicates([(d.key, d.function) for d in valid]):
        key = f"{scenario.name}/{function['name']}"
        if key in apis:
            continue
        if ctx.config.environment:  # ToolSpectrum mode (ts): the scenario's environmental parameters
            function = environment.with_environment(ctx, scenario.name, function)
        record = ApiRecord(key=key, scenario=scenario.name, path=by_key[kept].path, function=function,
                           merged_from=folded)  # fmt: skip
        ctx.stats.accepted += 1
        if folded:
            ctx.stats.rejected["near_duplicate"] += len(folded)
        ctx.write("apis", record)
        apis[key] = record


# -- the scripted answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """What the scripted LLM knows about a kind of scenario."""

    keywords: tuple[str, ...]
    areas: tuple[tuple[str, str], ...]  # (functional area, the object its operations act on)
    subject: tuple[str, str]  # the query-stated parameter naming what a request is about
    items: tuple[str, ...]  # values of that parameter
    profile: tuple[str, ...]  # profile-sourced parameters (named as the profile features)
    actions: tuple[str, ...]  # history actions, with an {item} slot


DOMAINS: dict[str, Domain] = {
    "shopping": Domain(
        ("shop", "store", "retail", "buy", "commerce", "mall", "fashion"),
        (("product orders", "order"), ("product search", "product"), ("returns", "return"),
         ("wishlists", "wishlist"), ("reviews", "review"), ("subscriptions", "subscription")),
        ("item", "The product the request is about"),
        ("wireless earbuds", "running shoes", "desk lamp", "water bottle", "yoga mat", "hiking backpack",
         "coffee grinder", "phone case"),
        ("delivery_address", "payment_method", "phone", "clothing_size"),
        ("Bought {item}", "Ordered {item} and kept it", "Reordered {item}", "Added {item} to the cart")),
    "takeout": Domain(
        ("food", "takeout", "take-out", "meal", "restaurant", "dining", "grocer", "eat"),
        (("meal orders", "meal order"), ("restaurant search", "restaurant"),
         ("table bookings", "table booking"), ("group orders", "group order"),
         ("dish reviews", "dish review"), ("meal plans", "meal plan")),
        ("dish", "The dish the request is about"),
        ("pad thai", "margherita pizza", "chicken burrito", "sushi platter", "falafel wrap", "ramen bowl",
         "caesar salad", "butter chicken"),
        ("delivery_address", "dietary_needs", "phone", "payment_method"),
        ("Ordered {item} for dinner", "Had {item} delivered", "Rated the {item} highly",
         "Ordered {item} for lunch")),
    "travel": Domain(
        ("travel", "trip", "flight", "hotel", "train", "vacation", "holiday", "tour"),
        (("flight bookings", "flight"), ("hotel stays", "hotel room"), ("train tickets", "train ticket"),
         ("car rentals", "rental car"), ("itineraries", "itinerary"), ("travel insurance", "insurance plan")),
        ("destination", "The destination city of the trip"),
        ("Lisbon", "Kyoto", "Vancouver", "Marrakesh", "Reykjavik", "Buenos Aires", "Prague", "Cape Town"),
        ("seat_preference", "email", "payment_method", "phone"),
        ("Booked a trip to {item}", "Flew to {item}", "Stayed three nights in {item}",
         "Paid for a tour of {item}")),
    "entertainment": Domain(
        ("movie", "music", "entertain", "stream", "game", "ticket", "show", "concert", "video", "film"),
        (("movie tickets", "movie ticket"), ("music streaming", "playlist"),
         ("concert tickets", "concert booking"), ("game store", "game"), ("podcasts", "podcast"),
         ("event passes", "festival pass")),
        ("title", "The title the request is about"),
        ("Midnight Harbor", "The Glass Orchard", "Neon Tide", "Paper Comets", "Echo Valley",
         "Silver Lantern", "Quiet Meridian", "Saltwater Kings"),
        ("email", "language", "payment_method", "phone"),
        ("Watched {item}", "Listened to {item}", "Got tickets for {item}", "Spent an evening on {item}")),
    "work": Domain(
        ("work", "office", "productivity", "meeting", "business", "job", "team"),
        (("meetings", "meeting"), ("office supplies", "supply order"), ("documents", "document"),
         ("expenses", "expense report"), ("tasks", "task"), ("workspace bookings", "desk booking")),
        ("subject", "What the request is about"),
        ("quarterly report", "printer paper", "project kickoff", "budget review", "whiteboard markers",
         "client proposal", "onboarding plan", "team offsite"),
        ("email", "work_address", "phone", "language"),
        ("Ordered {item} for the office", "Shared the {item}", "Scheduled the {item}",
         "Requested {item} for the team")),
    "generic": Domain(
        (),
        (("requests", "request"), ("bookings", "booking"), ("orders", "service order"),
         ("accounts", "account plan"), ("support tickets", "support ticket"), ("reviews", "service review")),
        ("item", "What the request is about"),
        ("basic plan", "premium plan", "family bundle", "weekend pass", "starter kit", "annual membership",
         "gift voucher", "trial package"),
        ("email", "phone", "home_address", "payment_method"),
        ("Used {item}", "Paid for {item}", "Renewed {item}", "Signed up for {item}")),
}  # fmt: skip
VERBS = ("create", "find", "update", "cancel", "check", "schedule")
VARIANTS = ("in bulk", "as a gift", "for today", "for later", "again", "with express handling")
PROFILE_DESCRIPTIONS = {
    "delivery_address": "The address to deliver to", "payment_method": "How the user pays",
    "phone": "The user's phone number", "email": "The user's email address",
    "clothing_size": "The user's clothing size", "dietary_needs": "The user's dietary needs",
    "seat_preference": "The user's preferred seat", "language": "The user's preferred language",
    "work_address": "The user's office address", "home_address": "The user's home address",
}  # fmt: skip
PRICE_LEVELS = ("low", "moderate", "high")
SPEEDS = ("fast", "average", "slow")
QUALITIES = ("excellent", "decent", "basic")
STYLES = ("minimalist", "playful", "premium", "classic", "trendy", "family-friendly")
SUFFIXES = ("Hub", "Express", "Prime", "Market", "Nest", "Works")
POLICIES = (
    "Users under 18 may not buy items over 2,000",
    "Orders placed after 22:00 are handled the next morning",
    "A phone number is required for every order",
    "At most 5 units of one item per order",
)


def domain_of(scenario: str) -> Domain:
    text = scenario.lower()
    for name, domain in DOMAINS.items():
        if name in text or any(word in text for word in domain.keywords):
            return domain
    return DOMAINS["generic"]


def camel(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    if not words:
        return "doRequest"
    name = words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
    return name if name[0].isalpha() else f"do{name[:1].upper()}{name[1:]}"


def _scripted_platforms(inputs: dict[str, Any]) -> dict[str, Any]:
    scenario = str(inputs.get("scenario") or "service")
    count = max(1, min(int(inputs.get("count") or 2), len(SUFFIXES)))
    stem = camel(scenario)
    stem = stem[:1].upper() + stem[1:]
    platforms = []
    for i in range(count):
        characteristics = {"price level": PRICE_LEVELS[i % 3], "speed": SPEEDS[(i + 1) % 3],
                           "quality": QUALITIES[(i + 2) % 3], "style": STYLES[i % len(STYLES)]}  # fmt: skip
        rules = [POLICIES[(i + j) % len(POLICIES)] for j in range(1 + i % 3)]
        policy = rules if inputs.get("environment") else []
        name = f"{stem}{SUFFIXES[i]}"
        platforms.append({"name": name, "characteristics": characteristics, "policy": policy})
    return {"platforms": platforms}


def _scripted_refine(inputs: dict[str, Any]) -> dict[str, Any]:
    domain = domain_of(str(inputs.get("scenario", "")))
    path = [str(p) for p in inputs.get("path") or []]
    branching = max(1, int(inputs.get("branching") or 2))
    if not path:
        children = [area for area, _ in domain.areas]
    elif len(path) == 1:
        noun = dict(domain.areas).get(path[0], path[0])
        children = [f"{verb} {noun}" for verb in VERBS]
    else:
        children = [f"{path[-1]} {variant}" for variant in VARIANTS]
    return {"children": children[:branching], "leaf": False}


def _scripted_api(inputs: dict[str, Any]) -> dict[str, Any]:
    scenario = str(inputs.get("scenario") or "service")
    domain = domain_of(scenario)
    path = [str(p) for p in inputs.get("path") or []]
    leaf = path[-1] if path else scenario
    name = camel(leaf)
    subject, subject_text = domain.subject
    properties: dict[str, Any] = {subject: {"type": "string", "description": subject_text}}
    verb = leaf.split()[0].lower() if leaf.split() else ""
    if verb == "create":
        properties["quantity"] = {"type": "integer", "description": "How many to order"}
    elif verb == "schedule":
        properties["date"] = {"type": "string", "description": "The date, as YYYY-MM-DD"}
    start = stable(name) % len(domain.profile)
    for offset in range(2):
        param = domain.profile[(start + offset) % len(domain.profile)]
        text = PROFILE_DESCRIPTIONS.get(param, f"The user's {param}")
        properties[param] = {"type": "string", "description": text}
    description = f"{leaf[:1].upper()}{leaf[1:]} for the user."
    parameters = {"type": "object", "properties": properties, "required": list(properties)}
    return {"name": name, "description": description, "parameters": parameters}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "tools.platforms": _scripted_platforms,
    "tools.refine": _scripted_refine,
    "tools.api": _scripted_api,
}
