"""Stage `verify`: rule-based verification, then the model-based judge (PTool, paper section
4.4; the judge's three 1-10 scores and cut-off as in ToolSpectrum).

One verdict per query, keyed by the query. The rules (`RULES`, in order; a sample gets the name
of every rule it fails as its reasons and is never sent to the judge):

    format                      a solution exists; a refusal has no calls, an answer has calls
    unexpected_refusal          the solution refuses (no query of this mode breaks a policy)
    unknown_platform            the platform is not one of the scenario's
    platform_evidence           nothing supports the platform: no history record on it for the
                                query's condition, and the query says no characteristic only it
                                has (its value or a phrasing of it, stages/needs.py); naming the
                                platform is no evidence (the queries stage rejects that)
    platform_not_targeted       the platform is not the query's target: the user's preference for
                                its condition, or the platform its stated need singles out
    intended_api_missing        an API the query was written for is not called, or a chain's
                                calls are out of order
    unexpected_call             a call beyond those the query was written for (another tool, or
                                one of them again): the calls must be exactly the intended ones
    unknown_tool                a call to a function no API of the scenario has
    unknown_parameter           an argument the function does not declare
    type_mismatch               a value not of the declared JSON type
    enum_violation              a value outside the declared enum
    required_missing            a required parameter left out
    source_missing              an argument with no annotated source
    query_value_not_in_query    a query-sourced value that does not occur in the query
    profile_value_not_in_profile  a profile-sourced value that occurs in no profile value
    profile_value_in_query      a profile-sourced value stated in the query
    environment_value_not_in_environment  a value annotated environmental that is not in the
                                query's environment (this mode has none: the annotator put a
                                value from nowhere down to the situation)
    reveals_profile             a value the query states equals a profile value (the user
                                agent gave away a profile fact; the sample is not personalized);
                                not a value of the parameter's enum ("low" priority says nothing
                                of a "low" income level)

These are the PTBench mode's rules: the ToolSpectrum mode (`environment: true`) verifies with
stages/ts_samples.py, so `refusal_expected` (a policy-breaking query answered) is not one here:
no query of this mode breaks a policy.

Occurrence is a case-insensitive substring test, as in the built-in benchmark's rules. A sample
passing every rule goes to the judge (task "verify.judge"), which scores `parameters` (are the
values right), `hallucination` (10: nothing invented) and `solves` (does the solution fulfil
the query); it is accepted only if all three
reach `config.judge_cutoff`, else its reasons are "judge:<score>=<value>" for each one short.
`ctx.stats.rejected` counts each reason once per sample (judge reasons without the value).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from pertool.synth.faults import fault_at
from pertool.synth.pipeline import StageContext
from pertool.synth.records import (
    HistoryRecord,
    QueryRecord,
    SolutionRecord,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.stages.needs import phrasings, stated_phrasing
from pertool.synth.stages.queries import (
    Scenario,
    as_text,
    distinct_traits,
    equals_any,
    history_of,
    leaves,
    mentions,
    occurs,
    platform_name,
    properties,
    required,
    run_all,
    scenario_index,
    typed,
)
from pertool.synth.stages.solutions import solve_inputs

__all__ = ["RULES", "SCRIPTED", "JudgeOutput", "judge", "reject", "rule_failures", "run"]

RULES = (
    "format", "unexpected_refusal", "unknown_platform", "platform_evidence",
    "platform_not_targeted", "intended_api_missing", "unexpected_call", "unknown_tool", "unknown_parameter",
    "type_mismatch", "enum_violation", "required_missing",
    "source_missing", "query_value_not_in_query", "profile_value_not_in_profile", "profile_value_in_query",
    "environment_value_not_in_environment", "reveals_profile",
)  # fmt: skip
SCORES = ("parameters", "hallucination", "solves")

INSTRUCTIONS = (
    "You judge one synthesized sample of personalized tool use: a user's request (`query`, in "
    "the situation `environment`), the user's profile and history, the platforms and tools, "
    "and the proposed `solution` (platform null with no calls is a refusal, never right here). "
    "`target_platform` "
    "is the platform the request was written for (the user's preference for its `condition`, or "
    "the one its stated `need` singles out), `intended_tools` the functions it was written for, "
    "in order, `stated_values` the values the user meant to state. "
    "Score from 1 (worst) to 10 (best): `parameters`: are the argument values correct for the "
    "request, the profile and the environment; `hallucination`: 10 when no tool, parameter or "
    "value is invented; `solves`: do the platform and calls fulfil the request."
)


class JudgeOutput(BaseModel):
    parameters: int = Field(ge=1, le=10)
    hallucination: int = Field(ge=1, le=10)
    solves: int = Field(ge=1, le=10)


def _platform_supported(name: str, query: QueryRecord, scenario: Scenario,
                        history: list[HistoryRecord]) -> bool:  # fmt: skip
    if any(platform_name(h.platform, query.scenario) == name and h.condition in ("", query.condition)
           for h in history):  # fmt: skip
        return True
    platform = scenario.platform(name)
    if platform is None:
        return False
    text = query.query
    return any(occurs(v, text) or stated_phrasing(phrasings(k, v), text)
               for k, v in distinct_traits(platform, scenario.platforms))  # fmt: skip


def rule_failures(query: QueryRecord, solution: SolutionRecord | None, scenario: Scenario,
                  explicit: dict[str, Any], history: list[HistoryRecord]) -> list[str]:  # fmt: skip
    """The names of the rules a sample fails, in RULES order (empty: it passes)."""
    if solution is None:
        return ["format"]
    failed: set[str] = set()
    refusal = solution.platform is None
    if refusal == bool(solution.calls):
        failed.add("format")
    if refusal:
        failed.add("unexpected_refusal")
    if solution.platform is not None:
        if scenario.platform(solution.platform) is None:
            failed.add("unknown_platform")
        elif not _platform_supported(solution.platform, query, scenario, history):
            failed.add("platform_evidence")
        if solution.platform != query.platform:
            failed.add("platform_not_targeted")
    tools = {str(a.function.get("name")): a.function for a in scenario.apis}
    wanted, called = _intended(query, scenario), [c.name for c in solution.calls]
    if not refusal and not _in_order(wanted, called):
        failed.add("intended_api_missing")
    if len(called) > len(wanted):
        failed.add("unexpected_call")
    text, environment = query.query, query.environment or {}
    for call in solution.calls:
        if call.name not in tools:
            failed.add("unknown_tool")
            continue
        specs = properties(tools[call.name])
        if set(required(tools[call.name])) - set(call.arguments):
            failed.add("required_missing")
        for param, value in call.arguments.items():
            spec = specs.get(param)
            if spec is None:
                failed.add("unknown_parameter")
            elif not typed(value, spec):
                failed.add("type_mismatch")
            elif isinstance(spec.get("enum"), list) and value not in spec["enum"]:
                failed.add("enum_violation")
            source = call.sources.get(param)
            if source is None:
                failed.add("source_missing")
            elif source == "query" and not occurs(value, text):
                failed.add("query_value_not_in_query")
            elif source == "profile":
                if not any(occurs(value, str(leaf)) for leaf in leaves(explicit)):
                    failed.add("profile_value_not_in_profile")
                if mentions(value, text):
                    failed.add("profile_value_in_query")
            elif source == "environmental" and not any(occurs(value, str(v)) for v in leaves(environment)):
                failed.add("environment_value_not_in_environment")
            listed = spec is not None and isinstance(spec.get("enum"), list) and value in spec["enum"]
            if source != "profile" and _telling(value) and not listed and occurs(value, text):
                if equals_any(value, explicit):
                    failed.add("reveals_profile")
    return [r for r in RULES if r in failed]


def _intended(query: QueryRecord, scenario: Scenario) -> list[str]:
    """The function names of the APIs the query was written for, in call order."""
    return [str(api.function.get("name")) for api in (scenario.api(k) for k in query.apis) if api is not None]


def _in_order(wanted: list[str], called: list[str]) -> bool:
    """`wanted` is a subsequence of `called` (every one called, in this order)."""
    rest = iter(called)
    return all(name in rest for name in wanted)


def _telling(value: Any) -> bool:
    """A value specific enough that stating it gives a profile fact away (not "2", "yes")."""
    text = str(value).strip()
    return isinstance(value, str) and len(text) >= 3 and not re.fullmatch(r"[\d.,:+-]+", text)


async def run(ctx: StageContext) -> None:
    if ctx.config.environment:  # ToolSpectrum mode (ts): stages/ts_samples.py
        from pertool.synth.stages.ts_samples import run_verify

        return await run_verify(ctx)
    index = scenario_index(ctx)
    users = ctx.dir.read("users", UserRecord)
    histories = ctx.dir.read("histories", HistoryRecord)
    queries = ctx.dir.read("queries", QueryRecord)
    solutions = ctx.dir.read("solutions", SolutionRecord)
    done = ctx.dir.read("verdicts", VerdictRecord)
    jobs = []
    for key in sorted(queries):
        query = queries[key]
        if key in done or query.user not in users or query.scenario not in index:
            continue
        user, scenario = users[query.user], index[query.scenario]
        history = history_of(histories, query.user, query.scenario)
        solution = solutions.get(key)
        failed = rule_failures(query, solution, scenario, user.explicit, history)
        if failed or solution is None:
            reject(ctx, key, failed)
            continue
        inputs = solve_inputs(query, user, scenario, history)
        inputs.update(target_platform=query.platform, intended_tools=_intended(query, scenario),
                      condition=query.condition, need=query.need, stated_values=query.values,
                      solution={"platform": solution.platform,
                                "calls": [c.model_dump(mode="json") for c in solution.calls]})  # fmt: skip
        jobs.append(judge(ctx, key, inputs))
    await run_all(jobs)


def reject(ctx: StageContext, key: str, reasons: list[str], scores: dict[str, int] | None = None) -> None:
    """Write a rejected verdict, counting each reason once (judge reasons without the value)."""
    for reason in reasons:
        ctx.stats.rejected[reason.split("=", 1)[0]] += 1
    ctx.write("verdicts", VerdictRecord(key=key, accepted=False, reasons=reasons, scores=scores or {}))


async def judge(ctx: StageContext, key: str, inputs: dict[str, Any],
                instructions: str = INSTRUCTIONS) -> None:  # fmt: skip
    """Ask the judge (task "verify.judge"); keep the sample only if all three scores reach
    `judge_cutoff`. The ToolSpectrum mode asks it with its own instructions."""
    out = await ctx.llm.ask("verify.judge", instructions, inputs, JudgeOutput, ctx.stats)
    if out is None:  # the client counted it as "invalid_output"
        ctx.write("verdicts", VerdictRecord(key=key, accepted=False, reasons=["judge:invalid_output"]))
        return
    scores = {name: int(getattr(out, name)) for name in SCORES}
    short = [f"judge:{name}={value}" for name, value in scores.items() if value < ctx.config.judge_cutoff]
    if short:
        reject(ctx, key, short, scores)
        return
    ctx.stats.accepted += 1
    ctx.write("verdicts", VerdictRecord(key=key, accepted=True, scores=scores))


# -- the scripted judge -------------------------------------------------------------------


def _scripted_judge(inputs: dict[str, Any]) -> dict[str, Any]:
    """9 on every score for a coherent solution; low where it is not: a refusal (no request
    of this mode breaks a policy), another platform than the target, other
    calls than the intended ones (solves 3), invented tools, parameters or values the user never
    stated (hallucination 2),
    values not found where their source says or other than the user stated (parameters 4).
    Too strict on purpose (5) at the slots faults.py plans for "judge:<score>"."""
    if inputs.get("toolspectrum"):  # ToolSpectrum mode (ts): its own scripted judge
        from pertool.synth.stages.ts_assistant import scripted_judge

        return scripted_judge(inputs)
    solution = inputs["solution"]
    if solution["platform"] is None:
        return {"parameters": 9, "hallucination": 9, "solves": 2}
    tools = {t.get("name"): properties(t) for t in inputs["tools"]}
    calls = solution["calls"]
    invented = any(c["name"] not in tools or set(c["arguments"]) - set(tools[c["name"]]) for c in calls)
    sources = {"query": inputs["query"], "profile": inputs["profile"], "environmental": inputs["environment"]}
    traced = all(any(occurs(value, str(leaf)) for leaf in leaves(sources.get(c["sources"].get(p, ""), "")))
                 for c in calls for p, value in c["arguments"].items())  # fmt: skip
    stated = inputs.get("stated_values") or {}
    as_stated = all(as_text(value).casefold() == as_text(stated[p]).casefold() for c in calls
                    for p, value in c["arguments"].items()
                    if c["sources"].get(p) == "query" and p in stated)  # fmt: skip
    unasked = bool(stated) and any(c["sources"].get(p) == "query" and p not in stated
                                   for c in calls for p in c["arguments"])  # fmt: skip
    solves = (solution["platform"] == inputs["target_platform"]
              and [c["name"] for c in calls] == list(inputs["intended_tools"]))  # fmt: skip
    scores = {"parameters": 9 if traced and as_stated else 4,
              "hallucination": 2 if invented or unasked else 9, "solves": 9 if solves else 3}  # fmt: skip
    fault = fault_at(str(inputs.get("sample", "")))
    if fault and fault.startswith("judge:"):
        scores[fault.split(":", 1)[1]] = 5
    return scores


SCRIPTED = {"verify.judge": _scripted_judge}
