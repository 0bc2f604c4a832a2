"""Stage `solutions`: the assistant agent solves each query, then every gold parameter is
annotated with its source (PTool, paper section 4.3).

The assistant (task "solutions.solve") gets the scenario's tools, its platforms (with their
characteristics and policies), the user's explicit profile and history of the scenario, the
query and its environment, and answers {platform, calls}; a refusal is platform null and no
calls (the gold of a query that breaks a platform policy). It is not told the target platform:
the judge in `verify` checks that it found it.

Each argument's source comes from string evidence where that is unambiguous: the value occurs in
the query -> "query"; it equals a profile value -> "profile"; it equals a value of the
environment -> "environmental". Exactly one of these must hold; where none or several do, the
LLM decides (task "solutions.annotate"). `annotated_by["<function>.<parameter>"]` says which.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import CallRecord, HistoryRecord, QueryRecord, SolutionRecord, UserRecord
from pertool.synth.stages.queries import (
    Scenario,
    as_text,
    environment_factor,
    equals_any,
    history_of,
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

__all__ = ["SCRIPTED", "AnnotateOutput", "SolveOutput", "evidence", "run", "solve_inputs"]

Source = Literal["query", "profile", "environmental"]

SOLVE_INSTRUCTIONS = (
    "You are a personalized assistant. Given the user's request (`query`), their explicit "
    "profile, their behaviour history, the situation they are in (`environment`, may be null), "
    "the candidate platforms (characteristics and policies) and the tools, choose the platform "
    "and the tool calls that fulfil the request. The platform: the one a need stated in the "
    "request singles out, otherwise the one the history shows the user uses for this kind of "
    "request. Fill the parameters the request states with its values verbatim, the parameters "
    "about the user (address, phone, payment method, ...) from the profile, and those that "
    "depend on the situation from the environment; leave out what nothing supplies. Use only "
    "the given tools and parameters. If the request breaks a policy of a platform, refuse: "
    "platform null and no calls."
)
ANNOTATE_INSTRUCTIONS = (
    'Say where the value of this tool-call parameter comes from: "query" if the user stated '
    'it in the request, "profile" if the assistant took it from the user\'s profile without '
    'the request stating it, "environmental" if it comes from the situation (`environment`).'
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
    if occurs(value, query):
        found.add("query")
    if equals_any(value, explicit):
        found.add("profile")
    if environment and equals_any(value, environment):
        found.add("environmental")
    return found


def solve_inputs(query: QueryRecord, user: UserRecord, scenario: Scenario,
                 history: list[HistoryRecord]) -> dict[str, Any]:  # fmt: skip
    """What the assistant agent sees (also what the judge sees of the sample)."""
    return {
        "scenario": query.scenario,
        "platforms": [{"name": p.name, "characteristics": p.characteristics, "policy": p.policy}
                      for p in scenario.platforms],
        "tools": [a.function for a in scenario.apis],
        "profile": user.explicit,
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
    for call in out.calls:
        sources: dict[str, Source] = {}
        specs = properties(tools.get(call.name, {}))
        for param, value in call.arguments.items():
            found = evidence(value, query.query, inputs["profile"], query.environment)
            if len(found) == 1:
                sources[param] = found.pop()  # type: ignore[assignment]
                annotated_by[f"{call.name}.{param}"] = "evidence"
                continue
            asked = {"query": query.query, "profile": inputs["profile"], "environment": query.environment,
                     "tool": call.name, "parameter": param, "spec": specs.get(param),
                     "value": value}  # fmt: skip
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


def _scripted_solve(inputs: dict[str, Any]) -> dict[str, Any]:
    """Refuses a query quoting a policy; the platform a stated need singles out, else the most
    used in the history; the tool whose name the query says; values: profile-supplied from the
    profile, environmental from the environment, the rest read back from `the <words> is "<v>"`."""
    query, platforms = str(inputs["query"]), inputs["platforms"]
    low = query.casefold()
    if any(rule.strip().rstrip(".").casefold() in low for p in platforms for rule in p.get("policy", [])
           if rule.strip()):  # fmt: skip
        return {"platform": None, "calls": []}
    names = [p["name"] for p in platforms]
    platform = next((p["name"] for p in platforms for k, v in p["characteristics"].items()
                     if f"{k} should be {v}".casefold() in low), None)  # fmt: skip
    platform = platform or usual_platform(names, [h["platform"] for h in inputs["history"]]) or names[0]
    spots = [(m.start(), -len(phrase(t["name"])), i) for i, t in enumerate(inputs["tools"])
             if (m := re.search(rf"\b{re.escape(phrase(t['name']))}\b", query, re.IGNORECASE))]  # fmt: skip
    if not spots:
        return {"platform": platform, "calls": []}
    tool = inputs["tools"][min(spots)[2]]
    profile, environment = inputs["profile"], inputs.get("environment")
    arguments: dict[str, Any] = {}
    for param, spec in properties(tool).items():
        feature = profile_feature(param, spec, profile)
        factor = environment_factor(param, environment)
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
    return {"platform": platform, "calls": [{"name": tool["name"], "arguments": arguments}]}


def _scripted_annotate(inputs: dict[str, Any]) -> dict[str, Any]:
    param, value, spec = str(inputs["parameter"]), inputs["value"], inputs.get("spec") or {}
    profile, environment = inputs["profile"], inputs.get("environment")
    feature = profile_feature(param, spec, profile)
    factor = environment_factor(param, environment)
    if feature is not None and equals_any(value, profile[feature]):
        return {"source": "profile"}
    if factor is not None and environment and equals_any(value, environment[factor]):
        return {"source": "environmental"}
    if occurs(value, str(inputs["query"])) or feature is None:
        return {"source": "query"}
    return {"source": "profile"}


SCRIPTED = {"solutions.solve": _scripted_solve, "solutions.annotate": _scripted_annotate}
