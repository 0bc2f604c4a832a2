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
import json
import re
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import ApiRecord, ChainRecord, PlatformRecord, ScenarioConfig
from pertool.synth.stages import environment  # ToolSpectrum mode (ts)

__all__ = [
    "SCRIPTED", "DraftRecord", "NodeRecord", "each_in_order", "feature_name", "is_identifier",
    "merge_near_duplicates",
    "near_duplicate", "run", "similarity", "tokens", "validate_function",
]  # fmt: skip

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
U = TypeVar("U")

NODES = "functionality"
DRAFTS = "api_drafts"
CHAIN_STEPS = "chain_answers"
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


Problems = list[tuple[str, str]]  # (rejection reason, message) pairs


async def ask_checked(ctx: StageContext, task: str, instructions: str, inputs: dict[str, Any],
                      output: type[M], check: Callable[[M], Problems]
                      ) -> tuple[M | None, Problems]:  # fmt: skip
    """Ask, and check the answer by rules; when they find problems, count each reason once
    and ask once more, telling the model what was wrong (`rejected` in the inputs). The second
    answer stands, with its problems (counted too). None: no schema-valid answer."""
    out = await ctx.llm.ask(task, instructions, inputs, output, ctx.stats)
    if out is None:
        return None, []
    problems = check(out)
    if not problems:
        return out, []
    for reason in sorted({reason for reason, _ in problems}):
        ctx.stats.rejected[reason] += 1
    again = {**inputs, "rejected": [message for _, message in problems]}
    out = await ctx.llm.ask(task, instructions, again, output, ctx.stats)
    if out is None:
        return None, []
    problems = check(out)
    for reason in sorted({reason for reason, _ in problems}):
        ctx.stats.rejected[reason] += 1
    return out, problems


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
    reasons: list[str] = Field(default_factory=list)  # the rejection reasons of the problem


class ChainStepRecord(BaseModel):
    """A scenario's chains as answered and checked (chain_answers.jsonl)."""

    model_config = ConfigDict(extra="forbid")
    key: str  # the scenario
    chains: list[str] = Field(default_factory=list)  # the accepted ChainRecord keys


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
    source: str = ""  # "query", "profile:<feature name>" or "environment:<factor>"
    examples: list[Any] = Field(default_factory=list)


class ParametersOut(BaseModel):
    type: str = "object"
    properties: dict[str, ParamOut]
    required: list[str] = Field(default_factory=list)


class ApiOut(BaseModel):
    name: str
    description: str
    parameters: ParametersOut


class ChainOut(BaseModel):
    first: str
    second: str
    shared: list[str] = Field(default_factory=list)


class ChainsOut(BaseModel):
    chains: list[ChainOut] = Field(default_factory=list)


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
    "optional enum; `required` lists property names). Declare each property's `source`: "
    '"query" when the user states it in the request (item, dish, date, quantity, destination), '
    '"profile:<feature>" when the user\'s profile supplies it, naming the profile feature by what '
    'it is in plain lower-case words ("profile:home address", "profile:phone number", '
    '"profile:dietary needs", "profile:seat preference"), never by the parameter name'
    "{environment}. Include at least one query and one profile parameter. Give each property "
    "3-8 realistic, distinct `examples` of its type (for a query parameter, the range a user "
    "chooses within: a cuisine gets cuisines, a cabin class cabin classes; never placeholders "
    'such as "cuisine 1"; inside the enum when there is one).'
)
API_ENVIRONMENT = (
    ', or "environment:<factor>" when the situation decides it (weather, time, location, network, '
    "device, battery)"
)
CHAINS_INSTRUCTIONS = (
    "These are the APIs of one scenario. List the pairs of APIs that a single user request can "
    "need one after the other (e.g. find a product, then order it), in call order: `first`, "
    "`second` (API names) and `shared`, the query parameters (same name in both) that carry the "
    "same value from the first call to the second. Only pairs that share at least one query "
    "parameter; none when no pair fits."
)


# -- validation and merging --------------------------------------------------------------------


def function_of(out: ApiOut) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, param in out.parameters.properties.items():
        spec: dict[str, Any] = {"type": param.type, "description": param.description}
        if param.enum is not None:
            spec["enum"] = list(param.enum)
        spec["x-source"] = _normalized_source(" ".join(param.source.split()))
        spec["examples"] = list(param.examples)
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


_FEATURE_NAME = re.compile(r"[^\W\d_](?:[\w' -]*\w)?")  # words of any script, digits after the first
_RAW_NAME = re.compile(r"_|[a-z][A-Z]")  # snake_case or camelCase: a parameter's name, not a feature's


def feature_name(name: str) -> str | None:
    """A profile feature's name as the records keep it ("Home Address", "ZIP code", "Número de
    teléfono" -> lower case, single spaces), or None for a parameter-like name ("contact_number",
    "phoneNumber") or one with odd characters."""
    text = " ".join(name.split())
    if _RAW_NAME.search(text) or not _FEATURE_NAME.fullmatch(text):
        return None
    return text.casefold()


def _normalized_source(source: str) -> str:
    kind, _, name = source.partition(":")
    feature = feature_name(name) if kind == "profile" else None
    return f"profile:{feature}" if feature else source


def source_of(spec: Any) -> tuple[str, str]:
    """A property's declared source as (kind, name): ("query", ""), ("profile", "home address"),
    ("environment", "Weather"); ("", "") when it declares none."""
    source = str(spec.get("x-source", "")) if isinstance(spec, dict) else ""
    kind, _, name = source.partition(":")
    if kind == "query" and not name:
        return "query", ""
    if kind in ("profile", "environment") and name.strip():
        return kind, " ".join(name.split())
    return "", ""


def is_placeholder(param: str, value: Any) -> bool:
    """A made-up value that only repeats the parameter's name with a number: "cuisine 51",
    "cabin class 67", "CON-38631" (for contact_number)."""
    if not isinstance(value, str):
        return False
    words = re.findall(r"[a-z]+|[0-9]+", value.lower())
    letters = [w for w in words if not w.isdigit()]
    if len(letters) == len(words) or not letters:
        return False
    names = tokens(param) | set(re.findall(r"[a-z]+", param.lower()))
    return all(any(n.startswith(w) for n in names) for w in letters)


def source_problems(function: dict[str, Any], environment: bool = False) -> list[tuple[str, str]]:
    """What is wrong with a spec's declared sources and examples, as (reason, message) pairs:
    "missing_source" (none, or an environment source outside the environment mode),
    "raw_feature_name" (a profile feature named like a parameter, not by what it is),
    "bad_examples" (not 3-8 distinct values of the type, outside the enum, or placeholders),
    "invalid_api_spec" (no query or no profile parameter)."""
    problems: list[tuple[str, str]] = []
    kinds: set[str] = set()
    properties = (function.get("parameters") or {}).get("properties") or {}
    for param, spec in properties.items():
        kind, name = source_of(spec)
        if not kind or (kind == "environment" and not environment):
            problems.append(("missing_source", f"parameter {param!r} declares no usable x-source"))
        elif kind == "profile" and feature_name(name) is None:
            problems.append(("raw_feature_name", f"parameter {param!r} names its profile feature {name!r}, "
                                                 "not by what it is"))  # fmt: skip
        kinds.add(kind)
        problem = _examples_problem(str(param), spec)
        if problem:
            problems.append(("bad_examples", problem))
    if problems:
        return problems
    if not {"query", "profile"} <= kinds:
        problems.append(("invalid_api_spec", "needs at least one query and one profile parameter"))
    return problems


def _examples_problem(param: str, spec: dict[str, Any]) -> str:
    examples = spec.get("examples")
    kind = spec.get("type")
    fewest = 2 if kind == "boolean" else 3  # a boolean has only two values
    if not isinstance(examples, list) or not fewest <= len(examples) <= 8:
        return f"parameter {param!r} has not {fewest}-8 examples"
    fits = _ENUM_TYPES.get(str(kind), (str,))
    if not all(isinstance(v, fits) and not (kind != "boolean" and isinstance(v, bool)) for v in examples):
        return f"parameter {param!r} has examples that do not fit its type"
    if len({json.dumps(v, sort_keys=True).lower() for v in examples}) < len(examples):
        return f"parameter {param!r} repeats an example"
    enum = spec.get("enum")
    if isinstance(enum, list) and any(v not in enum for v in examples):
        return f"parameter {param!r} has examples outside its enum"
    bad = [v for v in examples if is_placeholder(param, v) or (isinstance(v, str) and not v.strip())]
    if bad:
        return f"parameter {param!r} has placeholder examples {bad[:2]}"
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
    chains = ctx.dir.read("chains", ChainRecord)
    chain_steps = ctx.dir.read(CHAIN_STEPS, ChainStepRecord)
    for scenario in sorted(ctx.config.scenarios, key=lambda s: s.name):
        await _platforms(ctx, scenario, platforms)
        if ctx.config.environment:  # ToolSpectrum mode (ts): factors, platform rules, parameters
            await environment.environments(ctx, scenario)
        leaves: list[list[str]] = []
        await _refine(ctx, scenario, [], nodes, leaves)
        await _drafts(ctx, scenario, leaves, drafts)
        _write_apis(ctx, scenario, leaves, drafts, apis)
        await _chains(ctx, scenario, apis, chains, chain_steps)
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
        if ctx.config.environment and environment.name_taken(name, scenario.name, have.values()):
            ctx.stats.rejected["duplicate_platform"] += 1  # ToolSpectrum mode (ts): apps keyed by name
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
    instructions = API_INSTRUCTIONS.format(environment=API_ENVIRONMENT if ctx.config.environment else "")

    def check(out: ApiOut) -> Problems:
        function = function_of(out)
        problem = validate_function(function)
        return (
            [("invalid_api_spec", problem)] if problem else source_problems(function, ctx.config.environment)
        )

    async def fetch(leaf: list[str]) -> tuple[ApiOut | None, Problems]:
        inputs = {"scenario": scenario.name, "description": scenario.description, "path": leaf,
                  "environment": ctx.config.environment}  # fmt: skip
        return await ask_checked(ctx, "tools.api", instructions, inputs, ApiOut, check)

    def handle(leaf: list[str], answer: tuple[ApiOut | None, Problems]) -> None:
        out, problems = answer
        if out is None:
            return
        draft = DraftRecord(key=node_key(scenario.name, leaf), scenario=scenario.name, path=leaf,
                            function=function_of(out), problem="; ".join(m for _, m in problems),
                            reasons=sorted({r for r, _ in problems}))  # fmt: skip
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


def query_parameters(api: ApiRecord) -> list[str]:
    """The parameters of an API the user states in the request (declared "query")."""
    properties = api.function.get("parameters", {}).get("properties", {})
    return sorted(p for p, spec in properties.items() if source_of(spec)[0] == "query")


def chain_problems(answer: ChainOut, apis: dict[str, ApiRecord], seen: set[tuple[str, str]]) -> Problems:
    """Why a proposed chain is unusable: "unknown_api" (a name that is not one of the
    scenario's APIs, or the same API twice), "no_shared_parameter" (no shared names, or one
    that is not a query parameter of both), "duplicate_chain"."""
    first, second = apis.get(answer.first.strip()), apis.get(answer.second.strip())
    if first is None or second is None or first.key == second.key:
        return [("unknown_api", f"{answer.first!r} -> {answer.second!r} are not two APIs of the scenario")]
    both = set(query_parameters(first)) & set(query_parameters(second))
    shared = {p.strip() for p in answer.shared}
    if not shared or not shared <= both:
        return [
            ("no_shared_parameter", f"{first.key} -> {second.key} share no query parameter {sorted(shared)}")
        ]
    if (first.key, second.key) in seen:
        return [("duplicate_chain", f"{first.key} -> {second.key} twice")]
    return []


async def _chains(ctx: StageContext, scenario: ScenarioConfig, apis: dict[str, ApiRecord],
                  chains: dict[str, ChainRecord], steps: dict[str, ChainStepRecord]) -> None:  # fmt: skip
    """Task "tools.chains": the pairs of the scenario's APIs one request can need in order,
    each checked by rules (a bad pair is dropped and counted, the others are kept)."""
    mine = {
        a.function["name"]: a
        for a in sorted(apis.values(), key=lambda a: a.key)
        if a.scenario == scenario.name
    }
    if scenario.name in steps or len(mine) < 2:
        return
    inputs = {"scenario": scenario.name, "description": scenario.description,
              "apis": [{"name": name, "description": a.function.get("description", ""), "path": a.path,
                        "category": a.category, "query_parameters": query_parameters(a)}
                       for name, a in mine.items()]}  # fmt: skip
    out = await ctx.llm.ask("tools.chains", CHAINS_INSTRUCTIONS, inputs, ChainsOut, ctx.stats)
    if out is None:
        return
    seen: set[tuple[str, str]] = set()
    accepted: list[str] = []
    for answer in out.chains:
        problems = chain_problems(answer, mine, seen)
        if problems:
            ctx.stats.rejected[problems[0][0]] += 1
            continue
        first, second = mine[answer.first.strip()], mine[answer.second.strip()]
        seen.add((first.key, second.key))
        shared = sorted({p.strip() for p in answer.shared})
        record = ChainRecord(key=f"{scenario.name}/{first.function['name']}+{second.function['name']}",
                             scenario=scenario.name, apis=[first.key, second.key], shared=shared)  # fmt: skip
        accepted.append(record.key)
        if record.key not in chains:
            ctx.stats.accepted += 1
            ctx.write("chains", record)
            chains[record.key] = record
    step = ChainStepRecord(key=scenario.name, chains=accepted)
    ctx.write(CHAIN_STEPS, step)
    steps[step.key] = step


# -- the scripted answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A parameter the scripted LLM puts into specs: name, type, description, examples, and
    an enum where the values are a closed set (the examples are then the enum's values)."""

    name: str
    type: str
    description: str
    examples: tuple[Any, ...]
    enum: bool = False


@dataclass(frozen=True)
class Domain:
    """What the scripted LLM knows about a kind of scenario."""

    keywords: tuple[str, ...]
    areas: tuple[tuple[str, str], ...]  # (functional area, the object its operations act on)
    subject: tuple[str, str]  # the query-stated parameter naming what a request is about
    items: tuple[str, ...]  # values of that parameter
    profile: tuple[tuple[str, str], ...]  # profile-sourced parameters: (parameter name, feature name)
    actions: tuple[str, ...]  # history actions, with an {item} slot
    details: tuple[Param, Param]  # two more query-stated parameters (find, update)


_DATES = ("2025-03-14", "2025-04-02", "2025-05-21", "2025-06-09", "2025-07-30")
DOMAINS: dict[str, Domain] = {
    "shopping": Domain(
        ("shop", "store", "retail", "buy", "commerce", "mall", "fashion"),
        (("product orders", "order"), ("product search", "product"), ("returns", "return"),
         ("wishlists", "wishlist"), ("reviews", "review"), ("subscriptions", "subscription")),
        ("item", "The product the request is about"),
        ("wireless earbuds", "running shoes", "desk lamp", "water bottle", "yoga mat", "hiking backpack",
         "coffee grinder", "phone case"),
        (("delivery_address", "home address"), ("payment_method", "payment method"),
         ("contact_phone", "phone number"), ("clothing_size", "clothing size")),
        ("Bought {item}", "Ordered {item} and kept it", "Reordered {item}", "Added {item} to the cart"),
        (Param("color", "string", "The colour the user wants", ("black", "white", "navy", "red", "olive")),
         Param("max_price", "number", "The most the user will pay, in dollars", (25, 50, 100, 200, 400)))),
    "takeout": Domain(
        ("food", "takeout", "take-out", "meal", "restaurant", "dining", "grocer", "eat"),
        (("meal orders", "meal order"), ("restaurant search", "restaurant"),
         ("table bookings", "table booking"), ("group orders", "group order"),
         ("dish reviews", "dish review"), ("meal plans", "meal plan")),
        ("dish", "The dish the request is about"),
        ("pad thai", "margherita pizza", "chicken burrito", "sushi platter", "falafel wrap", "ramen bowl",
         "caesar salad", "butter chicken"),
        (("delivery_address", "home address"), ("dietary_restrictions", "dietary needs"),
         ("contact_number", "phone number"), ("payment_method", "payment method")),
        ("Ordered {item} for dinner", "Had {item} delivered", "Rated the {item} highly",
         "Ordered {item} for lunch"),
        (Param("cuisine", "string", "The cuisine the user wants", ("Thai", "Italian", "Mexican", "Japanese",
                                                                    "Indian", "Lebanese")),
         Param("party_size", "integer", "How many people eat", (1, 2, 3, 4, 6)))),
    "travel": Domain(
        ("travel", "trip", "flight", "hotel", "train", "vacation", "holiday", "tour"),
        (("flight bookings", "flight"), ("hotel stays", "hotel room"), ("train tickets", "train ticket"),
         ("car rentals", "rental car"), ("itineraries", "itinerary"), ("travel insurance", "insurance plan")),
        ("destination", "The destination city of the trip"),
        ("Lisbon", "Kyoto", "Vancouver", "Marrakesh", "Reykjavik", "Buenos Aires", "Prague", "Cape Town"),
        (("seat_type", "seat preference"), ("contact_email", "email address"),
         ("payment_method", "payment method"), ("traveler_phone", "phone number")),
        ("Booked a trip to {item}", "Flew to {item}", "Stayed three nights in {item}",
         "Paid for a tour of {item}"),
        (Param("cabin_class", "string", "The travel class",
               ("economy", "premium economy", "business", "first"), enum=True),
         Param("departure_date", "string", "The day of departure, as YYYY-MM-DD", _DATES))),
    "entertainment": Domain(
        ("movie", "music", "entertain", "stream", "game", "ticket", "show", "concert", "video", "film"),
        (("movie tickets", "movie ticket"), ("music streaming", "playlist"),
         ("concert tickets", "concert booking"), ("game store", "game"), ("podcasts", "podcast"),
         ("event passes", "festival pass")),
        ("title", "The title the request is about"),
        ("Midnight Harbor", "The Glass Orchard", "Neon Tide", "Paper Comets", "Echo Valley",
         "Silver Lantern", "Quiet Meridian", "Saltwater Kings"),
        (("account_email", "email address"), ("audio_language", "preferred language"),
         ("payment_method", "payment method"), ("mobile_number", "phone number")),
        ("Watched {item}", "Listened to {item}", "Got tickets for {item}", "Spent an evening on {item}"),
        (Param("genre", "string", "The genre the user wants", ("comedy", "thriller", "jazz", "documentary",
                                                                "science fiction", "animation")),
         Param("tickets", "integer", "How many tickets or seats", (1, 2, 3, 4, 5)))),
    "work": Domain(
        ("work", "office", "productivity", "meeting", "business", "job", "team"),
        (("meetings", "meeting"), ("office supplies", "supply order"), ("documents", "document"),
         ("expenses", "expense report"), ("tasks", "task"), ("workspace bookings", "desk booking")),
        ("subject", "What the request is about"),
        ("quarterly report", "printer paper", "project kickoff", "budget review", "whiteboard markers",
         "client proposal", "onboarding plan", "team offsite"),
        (("work_email", "email address"), ("office_address", "work address"), ("phone", "phone number"),
         ("document_language", "preferred language")),
        ("Ordered {item} for the office", "Shared the {item}", "Scheduled the {item}",
         "Requested {item} for the team"),
        (Param("priority", "string", "How urgent the request is", ("low", "normal", "high", "urgent"),
               enum=True),
         Param("deadline", "string", "The date it is due, as YYYY-MM-DD", _DATES))),
    "generic": Domain(
        (),
        (("requests", "request"), ("bookings", "booking"), ("orders", "service order"),
         ("accounts", "account plan"), ("support tickets", "support ticket"), ("reviews", "service review")),
        ("item", "What the request is about"),
        ("basic plan", "premium plan", "family bundle", "weekend pass", "starter kit", "annual membership",
         "gift voucher", "trial package"),
        (("email", "email address"), ("phone", "phone number"), ("home_address", "home address"),
         ("payment_method", "payment method")),
        ("Used {item}", "Paid for {item}", "Renewed {item}", "Signed up for {item}"),
        (Param("duration_months", "integer", "For how many months", (1, 3, 6, 12)),
         Param("note", "string", "A note for the provider", ("please call first", "leave at the door",
                                                             "no rush", "needed by Friday")))),
}  # fmt: skip
VERBS = ("create", "find", "update", "cancel", "check", "schedule")
VARIANTS = ("in bulk", "as a gift", "for today", "for later", "again", "with express handling")
QUANTITY = Param("quantity", "integer", "How many to order", (1, 2, 3, 4, 6))
DATE = Param("date", "string", "The date, as YYYY-MM-DD", _DATES)
REASON = Param(
    "reason",
    "string",
    "Why the user cancels",
    ("changed my mind", "found a better price", "ordered by mistake", "no longer needed"),
)
# Realistic values of the profile features the scripted specs declare (also the features
# stage's scripted candidates).
FEATURE_VALUES: dict[str, tuple[str, ...]] = {
    "home address": ("12 Maple Row, Northvale", "48 Harbor Lane, Port Ellery",
                     "7 Orchard Street, Kingsbridge", "230 Birch Avenue, Ashford Bay",
                     "19 Quarry Road, Millbrook", "5 Linden Court, Cedar Falls"),
    "work address": ("1 Exchange Square, Northvale", "400 Market Street, Port Ellery",
                     "88 Innovation Drive, Kingsbridge", "15 Commerce Plaza, Ashford Bay"),
    "phone number": ("+1-555-210-4471", "+1-555-318-9025", "+1-555-402-1187", "+1-555-577-3390"),
    "email address": ("ava.hartley@mailbox.example", "liam.okafor@mailbox.example",
                      "maya.lindqvist@mailbox.example", "noah.moreau@mailbox.example"),
    "payment method": ("credit card", "debit card", "PayFlow wallet", "bank transfer", "cash on delivery"),
    "clothing size": ("S", "M", "L", "XL"),
    "dietary needs": ("vegetarian", "vegan", "gluten-free", "halal", "lactose-free", "no restrictions"),
    "seat preference": ("window seat", "aisle seat", "extra legroom", "quiet carriage"),
    "preferred language": ("English", "Spanish", "French", "German", "Japanese"),
}  # fmt: skip
# The profile features whose values are a closed set: their API parameters declare an enum.
ENUM_FEATURES = frozenset({"payment method", "clothing size", "dietary needs", "seat preference",
                           "preferred language"})  # fmt: skip
PROFILE_DESCRIPTIONS = {
    "home address": "The address to deliver to", "work address": "The user's office address",
    "phone number": "The user's phone number", "email address": "The user's email address",
    "payment method": "How the user pays", "clothing size": "The user's clothing size",
    "dietary needs": "The user's dietary needs", "seat preference": "The user's preferred seat",
    "preferred language": "The user's preferred language",
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
# A deterministic minority of the scripted answers is wrong, so that every rejection rule of the
# stage fires in an offline run: an answer is wrong when stable(its inputs) % FAULT_CYCLE picks
# a fault; a second ask (inputs carry `rejected`) is always answered right.
FAULT_CYCLE = 24


def fault_of(task: str, inputs: dict[str, Any], faults: Sequence[str]) -> str:
    """The fault a scripted answer carries ("" for a right answer): a pure function of the
    task and the inputs, never on a second ask."""
    if inputs.get("rejected"):
        return ""
    pick = stable(task + json.dumps(inputs, sort_keys=True, ensure_ascii=False)) % FAULT_CYCLE
    return faults[pick] if pick < len(faults) else ""


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
    return {"platforms": _with_bad_platform(scenario, platforms, bool(inputs.get("environment")))}


_PLATFORM_FAULTS = ("invalid_platform", "invalid_characteristics", "duplicate_platform")


def _with_bad_platform(scenario: str, platforms: list[dict[str, Any]],
                       environment: bool) -> list[dict[str, Any]]:  # fmt: skip
    """One unusable candidate among the right ones (of a kind the scenario picks; in the
    environment mode also one without a policy), which the rules skip."""
    fault = _PLATFORM_FAULTS[stable(scenario) % len(_PLATFORM_FAULTS)]
    first = platforms[0]
    if fault == "invalid_platform":
        bad = [{**first, "name": f"{first['name']}/Beta"}]
    elif fault == "invalid_characteristics":
        bad = [{**first, "name": f"{first['name']}Lite", "characteristics": {"price level": "low"}}]
    else:
        bad = [{**first}]
    ordered = [*bad, *platforms] if fault != "duplicate_platform" else [first, *bad, *platforms[1:]]
    if environment:  # first of all, so that no rule but the policy's applies to it
        open_one = {"name": f"{first['name']}Open", "policy": [],
                    "characteristics": {"price level": "free", "speed": "instant", "quality": "unrated"}}
        ordered.insert(0, open_one)
    return ordered


def _scripted_refine(inputs: dict[str, Any]) -> dict[str, Any]:
    domain = domain_of(str(inputs.get("scenario", "")))
    path = [str(p) for p in inputs.get("path") or []]
    branching = max(1, int(inputs.get("branching") or 2))
    return {"children": _children(domain, path)[:branching], "leaf": False}


def _children(domain: Domain, path: list[str]) -> list[str]:
    if not path:
        return [area for area, _ in domain.areas]
    if len(path) == 1:
        noun = dict(domain.areas).get(path[0], path[0])
        return [f"{verb} {noun}" for verb in VERBS]
    # variants: two to four per operation (a real tree is not uniform either)
    return [f"{path[-1]} {variant}" for variant in VARIANTS[: 2 + stable(" > ".join(path)) % 3]]


def _param(param: Param, source: str, rotate: int = 0) -> dict[str, Any]:
    examples = list(
        param.examples[rotate % len(param.examples) :] + param.examples[: rotate % len(param.examples)]
    )
    spec = {"type": param.type, "description": param.description, "source": source, "examples": examples[:6]}
    return {**spec, "enum": list(param.examples)} if param.enum else spec


_API_FAULTS = ("missing_source", "bad_examples", "raw_feature_name", "invalid_api_spec", "near_duplicate")


def _scripted_api(inputs: dict[str, Any]) -> dict[str, Any]:
    scenario = str(inputs.get("scenario") or "service")
    domain = domain_of(scenario)
    path = [str(p) for p in inputs.get("path") or []]
    fault = fault_of("tools.api", inputs, _API_FAULTS)
    if fault == "near_duplicate":  # answers as for the first sibling (merged into it)
        first = _children(domain, path[:-1])[:1]
        if path and first and first[0] != path[-1]:
            path = [*path[:-1], first[0]]
    leaf = path[-1] if path else scenario
    name = camel(leaf)
    shift = stable(name)
    subject = Param(domain.subject[0], "string", domain.subject[1], domain.items)
    verb = leaf.split()[0].lower() if leaf.split() else ""
    extra = {"create": QUANTITY, "find": domain.details[0], "update": domain.details[1], "cancel": REASON,
             "schedule": DATE}.get(verb)  # fmt: skip
    properties: dict[str, Any] = {subject.name: _param(subject, "query", shift)}
    if extra is not None:
        properties[extra.name] = _param(extra, "query", shift)
    for offset in range(2):
        param, feature = domain.profile[(shift + offset) % len(domain.profile)]
        values = FEATURE_VALUES.get(feature, ("standard", "custom", "none"))
        text = PROFILE_DESCRIPTIONS.get(feature, f"The user's {feature}")
        properties[param] = _param(Param(param, "string", text, values, feature in ENUM_FEATURES),
                                   f"profile:{feature}", shift)  # fmt: skip
    if fault == "missing_source":
        properties[subject.name]["source"] = ""
    elif fault == "bad_examples":
        words = subject.name.replace("_", " ")
        properties[subject.name]["examples"] = [f"{words} {10 + 7 * n}" for n in range(4)]
    elif fault == "raw_feature_name":
        param = next(p for p, spec in properties.items() if spec["source"].startswith("profile:"))
        properties[param]["source"] = f"profile:{param if '_' in param else 'user_' + param}"
    elif fault == "invalid_api_spec":
        name = leaf  # words, not an identifier
    description = f"{leaf[:1].upper()}{leaf[1:]} for the user."
    parameters = {"type": "object", "properties": properties, "required": list(properties)}
    return {"name": name, "description": description, "parameters": parameters}


_CHAIN_ORDER = (("find", "create"), ("find", "update"), ("check", "cancel"), ("check", "schedule"))
_CHAIN_FAULTS = ("unknown_api", "no_shared_parameter", "duplicate_chain")


def _scripted_chains(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pairs of one category whose operations follow each other (find, then create the same
    thing), on the same variant at depth 3; sharing the query parameters both state."""
    apis = [a for a in inputs.get("apis") or [] if isinstance(a, dict) and a.get("name")]

    def shape(api: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        path = [str(p) for p in api.get("path") or []]
        verb = path[1].split()[0].lower() if len(path) > 1 and path[1].split() else ""
        variant = path[2][len(path[1]) :].strip() if len(path) > 2 else ""
        return verb, str(api.get("category", "")), (variant,)

    chains = []
    for first in apis:
        for second in apis:
            (v1, c1, r1), (v2, c2, r2) = shape(first), shape(second)
            shared = sorted(
                set(first.get("query_parameters") or []) & set(second.get("query_parameters") or [])
            )
            if c1 == c2 and r1 == r2 and (v1, v2) in _CHAIN_ORDER and shared:
                chains.append({"first": first["name"], "second": second["name"], "shared": shared})
    # one wrong pair in every answer (a minority of its pairs), of a kind the scenario picks
    fault = _CHAIN_FAULTS[stable(str(inputs.get("scenario"))) % len(_CHAIN_FAULTS)] if chains else ""
    if fault == "unknown_api":
        chains.append({**chains[0], "second": chains[0]["second"] + "Later"})
    elif fault == "no_shared_parameter":
        chains.append(
            {**chains[-1], "first": chains[-1]["second"], "second": chains[-1]["first"], "shared": []}
        )
    elif fault == "duplicate_chain":
        chains.append(dict(chains[0]))
    return {"chains": chains}


SCRIPTED: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "tools.platforms": _scripted_platforms,
    "tools.refine": _scripted_refine,
    "tools.api": _scripted_api,
    "tools.chains": _scripted_chains,
}
