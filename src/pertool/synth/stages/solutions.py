"""Stage `solutions`: the assistant agent solves each query, then every gold parameter is
annotated with its source (PTool, paper section 4.3).

The assistant (task "solutions.solve") gets what the paper's assistant knows: the user's
explicit profile, implicit features and conditional preferences (condition -> platform, ""
the default), the history of the scenario, the scenario's tools with their categories (the
conditions), its platforms in the sample's order (characteristics and policies), the query and
its environment; it answers {platform, calls}, two calls in order for a request needing two
APIs; a refusal is platform null and no calls (the gold of a query that breaks a policy). It is
not told the target platform: `verify` checks that it found it.

Each argument's source is the one the API declares (`x-source`), checked by string evidence:
the value occurs in the query -> "query"; it equals a profile value -> "profile"; it equals a
value of the environment -> "environmental". Where the declaration and the evidence agree (or,
for a spec that declares nothing, the evidence names exactly one source) that is the source;
otherwise the LLM decides (task "solutions.annotate"). `annotated_by["<function>.<parameter>"]`
says which. An argument of a tool the scenario lacks, or one its tool does not declare, is not
annotated (`verify` rejects it: unknown_tool, unknown_parameter, source_missing), and a solution
asks for at most MAX_ANNOTATIONS annotations (the rest stay unannotated: source_missing), so an
answer full of junk arguments costs no more calls than a few.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from pertool.synth.faults import fault_at
from pertool.synth.pipeline import StageContext
from pertool.synth.records import CallRecord, HistoryRecord, QueryRecord, SolutionRecord, UserRecord
from pertool.synth.stages.conditions import LEGACY_PREFERRED, declared_source
from pertool.synth.stages.needs import phrasings, stated_phrasing
from pertool.synth.stages.queries import (
    Scenario,
    as_text,
    environment_factor,
    equals_any,
    history_of,
    mentions,
    occurs,
    phrase,
    platform_name,
    profile_feature,
    properties,
    required,
    run_all,
    scenario_index,
    usual_platform,
)

__all__ = ["SCRIPTED", "AnnotateOutput", "SolveOutput", "coerce", "evidence", "run", "solve_inputs"]

Source = Literal["query", "profile", "environmental"]
MAX_ANNOTATIONS = 6  # "solutions.annotate" asks per solution

SOLVE_INSTRUCTIONS = (
    "You are a personalized assistant who knows the user: their explicit profile, their implicit "
    "features, their platform preferences per kind of request (`preferences`: a tool category -> "
    "platform, \"\" for any other) and their behaviour history. Given the user's request "
    "(`query`), the situation they are in (`environment`, may be null), the candidate platforms "
    "(characteristics and policies) and the tools (`categories` gives each tool's category), "
    "choose the platform and the tool calls that fulfil the request. The platform: the one a need "
    "stated in the request singles out, otherwise the one the user prefers for the category of "
    "the request. Call every tool the request needs, in order (one request may need two). Fill "
    "the parameters the request states with its values verbatim, the parameters about the user "
    "(address, phone, payment method, ...) from the profile, and those that depend on the "
    "situation from the environment; leave out what nothing supplies. Use only the given tools "
    "and parameters. If the request breaks a policy of a platform, refuse: platform null and no "
    "calls."
)
ANNOTATE_INSTRUCTIONS = (
    'Say where the value of this tool-call parameter comes from: "query" if the user stated '
    'it in the request, "profile" if the assistant took it from the user\'s profile without '
    'the request stating it, "environmental" if it comes from the situation (`environment`). '
    "`declared` is the source the API declares for the parameter (null: none)."
)


class SolvedCall(BaseModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class SolveOutput(BaseModel):
    platform: str | None  # null: a refusal
    calls: list[SolvedCall] = Field(default_factory=list)


class AnnotateOutput(BaseModel):
    source: Source


def evidence(value: Any, query: str, explicit: dict[str, Any],
             environment: dict[str, Any] | None) -> set[str]:  # fmt: skip
    """The sources string evidence supports for a value (one: decided; none or several: ask)."""
    found = set()
    if mentions(value, query):
        found.add("query")
    if equals_any(value, explicit):
        found.add("profile")
    if environment and equals_any(value, environment):
        found.add("environmental")
    return found


def _preferences(user: UserRecord, scenario: str) -> dict[str, str]:
    prefs = dict(user.preferences.get(scenario, {}))
    implicit = user.implicit.get(scenario)
    if not prefs and isinstance(implicit, dict) and implicit.get(LEGACY_PREFERRED):
        prefs[""] = str(implicit[LEGACY_PREFERRED])  # a pipeline of one preference per scenario
    return prefs


def solve_inputs(query: QueryRecord, user: UserRecord, scenario: Scenario,
                 history: list[HistoryRecord]) -> dict[str, Any]:  # fmt: skip
    """What the assistant agent sees (also what the judge sees of the sample)."""
    order = {name: i for i, name in enumerate(query.platform_order)}
    platforms = sorted(scenario.platforms, key=lambda p: (order.get(p.name, len(order)), p.key))
    return {
        "sample": query.key,
        "scenario": query.scenario,
        "platforms": [{"name": p.name, "characteristics": p.characteristics, "policy": p.policy}
                      for p in platforms],
        "tools": [a.function for a in scenario.apis],
        "categories": {str(a.function.get("name")): a.category for a in scenario.apis},
        "profile": user.explicit,
        "implicit": user.implicit.get(query.scenario, {}),
        "preferences": _preferences(user, query.scenario),
        "history": [{"platform": platform_name(h.platform, query.scenario), "action": h.action}
                    for h in history],
        "query": query.query,
        "environment": query.environment,
    }  # fmt: skip


async def run(ctx: StageContext) -> None:
    if ctx.config.environment:  # ToolSpectrum mode (ts): stages/ts_samples.py
        from pertool.synth.stages.ts_samples import run_solutions

        return await run_solutions(ctx)
    index = scenario_index(ctx)
    users = ctx.dir.read("users", UserRecord)
    histories = ctx.dir.read("histories", HistoryRecord)
    queries = ctx.dir.read("queries", QueryRecord)
    done = ctx.dir.read("solutions", SolutionRecord)
    jobs = []
    for key in sorted(queries):
        query = queries[key]
        if key in done or query.user not in users or query.scenario not in index:
            continue
        history = history_of(histories, query.user, query.scenario)
        inputs = solve_inputs(query, users[query.user], index[query.scenario], history)
        jobs.append(_solve(ctx, query, inputs))
    await run_all(jobs)


async def _solve(ctx: StageContext, query: QueryRecord, inputs: dict[str, Any]) -> None:
    out = await ctx.llm.ask("solutions.solve", SOLVE_INSTRUCTIONS, inputs, SolveOutput, ctx.stats)
    if out is None:  # counted as "invalid_output"; `verify` rejects the query for want of a solution
        return
    tools = {str(t.get("name")): t for t in inputs["tools"]}
    calls: list[CallRecord] = []
    annotated_by: dict[str, Literal["evidence", "llm"]] = {}
    asks = 0
    for call in out.calls:
        sources: dict[str, Source] = {}
        specs = properties(tools.get(call.name, {}))
        for param, value in call.arguments.items():
            spec = specs.get(param)
            if spec is None:  # an unknown tool or parameter: rejected by `verify` whatever its source
                continue
            declared = declared_source(spec)
            found = evidence(value, query.query, inputs["profile"], query.environment)
            decided = (declared[0] if declared and found == {declared[0]} else None) if declared else (
                next(iter(found)) if len(found) == 1 else None)  # fmt: skip
            if decided is not None:
                sources[param] = decided  # type: ignore[assignment]
                annotated_by[f"{call.name}.{param}"] = "evidence"
                continue
            if asks == MAX_ANNOTATIONS:
                continue
            asks += 1
            asked = {"sample": query.key, "query": query.query, "profile": inputs["profile"],
                     "environment": query.environment,
                     "tool": call.name, "parameter": param, "spec": spec, "value": value,
                     "declared": declared[0] if declared else None}  # fmt: skip
            answer = await ctx.llm.ask("solutions.annotate", ANNOTATE_INSTRUCTIONS, asked, AnnotateOutput,
                                       ctx.stats)  # fmt: skip
            if answer is not None:  # else left unannotated: `verify` rejects it (source_missing)
                sources[param] = answer.source
                annotated_by[f"{call.name}.{param}"] = "llm"
        calls.append(CallRecord(name=call.name, arguments=call.arguments, sources=sources))
    ctx.stats.accepted += 1
    ctx.write("solutions", SolutionRecord(key=query.key, platform=out.platform, calls=calls,
                                          annotated_by=annotated_by))  # fmt: skip


# -- the scripted assistant and annotator -------------------------------------------------


def coerce(value: Any, spec: dict[str, Any]) -> Any:
    """A value in the type its parameter declares, where it converts; else unchanged."""
    kind, text = spec.get("type"), as_text(value).strip()
    if kind == "integer" and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", text):
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "string" and not isinstance(value, str):
        return text
    return value


def _tools_named(query: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools whose name's words the query's first sentence says, in the order it says them
    (the longest name where two start at one place; no overlaps)."""
    head = re.split(r"[.?!]\s", query, maxsplit=1)[0]
    spots = sorted((m.start(), -len(phrase(t["name"])), m.end(), i) for i, t in enumerate(tools)
                   for m in re.finditer(rf"\b{re.escape(phrase(t['name']))}\b", head, re.I))  # fmt: skip
    named, end = [], -1
    for start, _, stop, i in spots:
        if start >= end:
            named.append(tools[i])
            end = stop
    return named


def _arguments(tool: dict[str, Any], query: str, profile: dict[str, Any],
               environment: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """Profile-sourced values from the profile, environmental from the environment, the rest
    read back from `the <words> is "<v>"`."""
    arguments: dict[str, Any] = {}
    for param, spec in properties(tool).items():
        feature = profile_feature(param, spec, profile)
        factor = environment_factor(param, environment, spec)
        stated = re.search(rf'\bthe {re.escape(phrase(param))} is "([^"]*)"', query, re.IGNORECASE)
        if feature is not None:
            value = coerce(profile[feature], spec)
            if "enum" in spec and value not in spec["enum"] and param not in required(tool):
                continue
            arguments[param] = value
        elif factor is not None and environment:
            arguments[param] = coerce(environment[factor], spec)
        elif stated:
            arguments[param] = coerce(stated.group(1), spec)
    return arguments


def _platform(inputs: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    """The platform a stated need singles out, else the preference for the first tool's
    category (the default preference, the history's most used, the first platform)."""
    query, platforms = str(inputs["query"]), inputs["platforms"]
    needed = next((p["name"] for p in platforms for k, v in p["characteristics"].items()
                   if stated_phrasing(phrasings(k, str(v)), query)), None)  # fmt: skip
    if needed:
        return str(needed)
    prefs: dict[str, str] = inputs.get("preferences") or {}
    condition = (inputs.get("categories") or {}).get(tools[0]["name"], "") if tools else ""
    names = [p["name"] for p in platforms]
    used = [h["platform"] for h in inputs["history"]]
    chosen = prefs.get(condition) or prefs.get("") or usual_platform(names, used)
    return str(chosen or names[0])


def _scripted_solve(inputs: dict[str, Any]) -> dict[str, Any]:
    """Refuses a query quoting a policy; else the platform `_platform` finds and one call per
    tool the query names, in order. Wrong on purpose at the slots faults.py plans."""
    query, platforms = str(inputs["query"]), inputs["platforms"]
    low = query.casefold()
    if any(rule.strip().rstrip(".").casefold() in low for p in platforms for rule in p.get("policy", [])
           if rule.strip()):  # fmt: skip
        return {"platform": None, "calls": []}
    tools = _tools_named(query, inputs["tools"])
    platform = _platform(inputs, tools)
    environment = inputs.get("environment")
    calls = [{"name": t["name"], "arguments": _arguments(t, query, inputs["profile"], environment)}
             for t in tools]  # fmt: skip
    return _wrong(fault_at(str(inputs.get("sample", ""))), inputs, platform, calls)


def _wrong(fault: str | None, inputs: dict[str, Any], platform: str,
           calls: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The answer with the planned fault of faults.py put in (unchanged for none)."""
    names = [p["name"] for p in inputs["platforms"]]
    tools = {t["name"]: t for t in inputs["tools"]}
    if fault == "format":
        calls = []
    elif fault == "unexpected_refusal":
        return {"platform": None, "calls": []}
    elif fault == "unknown_platform":
        platform = f"{platform} Plus"
    elif fault == "platform_not_targeted" and len(names) > 1:
        platform = names[(names.index(platform) + 1) % len(names)] if platform in names else names[0]
    elif fault == "unexpected_call" and calls:
        calls = [*calls, dict(calls[-1], arguments=dict(calls[-1]["arguments"]))]  # the last call again
    elif fault == "unknown_tool" and calls:
        calls[0]["name"] += "V2"
    elif fault == "intended_api_missing" and calls:
        other = next(t for t in [*inputs["tools"][1:], inputs["tools"][0]] if t["name"] != calls[0]["name"])
        arguments = _arguments(other, str(inputs["query"]), inputs["profile"], inputs.get("environment"))
        calls[0] = {"name": other["name"], "arguments": arguments}
    elif calls and fault in ("bad_arguments", "required_missing", "profile_value_in_query"):
        _wrong_arguments(fault, calls[0], tools.get(calls[0]["name"], {}), inputs["profile"])
    elif fault == "enum_violation":  # an enum value in other letters ("Business" for "business")
        for call in calls:
            specs = properties(tools.get(call["name"], {}))
            listed = [p for p, v in call["arguments"].items()
                      if isinstance(v, str) and isinstance(specs.get(p, {}).get("enum"), list)]  # fmt: skip
            if listed:
                text = call["arguments"][listed[0]]
                call["arguments"][listed[0]] = text.title() if text.title() != text else text.swapcase()
                break
    elif fault == "environment_value_not_in_environment" and calls:
        # a value the request never states, which the annotator then puts down to the situation
        stated = [p for p, spec in properties(tools.get(calls[0]["name"], {})).items()
                  if p in calls[0]["arguments"] and declared_source(spec) == ("query", "")
                  and spec.get("type") == "string" and "enum" not in spec]  # fmt: skip
        if stated:
            calls[0]["arguments"][stated[0]] = "the usual"
    return {"platform": platform, "calls": calls}


def _wrong_arguments(fault: str, call: dict[str, Any], tool: dict[str, Any], profile: dict[str, Any]) -> None:
    args, specs = call["arguments"], properties(tool)
    strings = [p for p in args if specs.get(p, {}).get("type") == "string" and "enum" not in specs[p]]
    mine = [p for p in strings if profile_feature(p, specs[p], profile) is not None]
    stated = [p for p in strings if p not in mine]
    if fault == "bad_arguments":
        args["coupon"] = "SPRING10"  # not a parameter of the tool
        if stated:
            args[stated[0]] = 12345  # not a string, and not in the query
        enum = next((p for p in args if "enum" in specs.get(p, {})), None)
        if enum:
            args[enum] = "none of the above"
    elif fault == "required_missing":
        gone = next((p for p in required(tool) if p in args and p not in mine[:1]), None)
        if gone:
            del args[gone]
        if mine:
            args[mine[0]] = "1 Nowhere Street"  # in no profile value
    elif mine and stated:  # a stated value put where the profile supplies one
        args[mine[0]] = args[stated[0]]


def _scripted_annotate(inputs: dict[str, Any]) -> dict[str, Any]:
    """The declared source; without a declaration, what the names say."""
    if fault_at(str(inputs.get("sample", ""))) == "environment_value_not_in_environment":
        return {"source": "environmental"}  # planned (faults.py): there is no environment
    if inputs.get("declared"):
        return {"source": inputs["declared"]}
    param, value, spec = str(inputs["parameter"]), inputs["value"], inputs.get("spec") or {}
    profile, environment = inputs["profile"], inputs.get("environment")
    feature = profile_feature(param, spec, profile)
    factor = environment_factor(param, environment, spec)
    if feature is not None and equals_any(value, profile[feature]):
        return {"source": "profile"}
    if factor is not None and environment and equals_any(value, environment[factor]):
        return {"source": "environmental"}
    if occurs(value, str(inputs["query"])) or feature is None:
        return {"source": "query"}
    return {"source": "profile"}


SCRIPTED = {"solutions.solve": _scripted_solve, "solutions.annotate": _scripted_annotate}
