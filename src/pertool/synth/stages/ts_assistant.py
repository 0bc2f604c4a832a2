"""The assistant agent and the judge of the ToolSpectrum mode (`environment: true`), and their
scripted answers. Stage `solutions` in this mode is `run_solutions`; stage `verify`
(stages/ts_samples.py) checks the assistant's answer against the plan's gold, then asks the
judge (task "verify.judge", the PTBench mode's task, output and cut-off) with `judge_inputs`.

The assistant (task "solutions.toolspectrum") sees what a ToolSpectrum model sees of a sample:
the instruction, the persona (persona subsets), the environment (environment subsets), the
scenario's apps with their descriptions (which situation makes an app the one to use) and
policies, and the APIs every app offers with the arguments the subset shows (required; plus
personalized with a persona, environmental with an environment). Beyond ToolSpectrum's view it
gets each API's category (the persona's preferences are stated per category) and each
argument's declared source (`x-source`, with `x-values` for an environmental one), as the
PTBench mode's assistant gets the API specs. It answers ToolSpectrum's {APP, API, params}; APP
null is a refusal. solutions.jsonl holds its answer: the call with each argument's declared
source; the gold stays the plan's (`ts_samples.gold_of`), and a sample is kept only where the
two agree.

The scripted assistant solves from those inputs alone (the API the instruction names, the app
an app's situation rule or the persona's preference singles out, a refusal where every app's
policy text forbids the API for this persona or situation). It answers wrongly at the slots
SLOTS gives ("user-<n>/<i>" -> (16 n + i) % 128: a run of 4 users x 16 requests meets each slot
once, one of 8 users x 10 requests each of the first eight; about 6-9 % of a large run): an
answer not in the schema (no_solution),
another app, another API, a personalized argument left out, a refusal of an answerable request
(or an answer to a refusal). The scripted judge scores 9 where the answer fulfils the target,
and is too strict on purpose (5) at its slots. The planner gives these slots a plan of the
kind the fault needs (an app and settings to get wrong, a clean sample for the judge:
stages/ts_samples.py SHAPES), so each fault shows whatever the seed.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from pertool.synth.pipeline import StageContext
from pertool.synth.records import CallRecord, QueryRecord, SolutionRecord, UserRecord
from pertool.synth.stages.solutions import coerce
from pertool.synth.toolspectrum import fact_value, persona_key, persona_of, same, source_of

__all__ = ["SCRIPTED", "SLOTS", "AssistantOut", "assistant_inputs", "judge_inputs", "run_solutions",
           "scripted_judge", "slot_fault", "slot_of", "words"]  # fmt: skip

INSTRUCTIONS = (
    "You are a personalized tool assistant. Given the user's instruction, persona (may be null), "
    "environment (may be null), the apps (each app's description says which situation makes it "
    "the app to use; its policy lists what it forbids) and the tools every app offers (each with "
    "its category: the persona's preferences name an app per category; each parameter declares "
    "its source: the instruction, the persona (`profile:<fact>`) or the environment "
    "(`environment:<factor>`, `x-values` mapping the factor's value to the parameter's), choose "
    "the app (the one the situation singles out, else the one the persona prefers for the tool's "
    "category), the API the instruction asks for, and its parameters: values the instruction "
    "states verbatim, the persona's facts, the environment's settings; leave out what nothing "
    "supplies. If the policies of every app forbid the request for this persona or situation, "
    "refuse: APP, API null and params {}. Reply {APP, API, params, explanation}."
)
_SOURCES = {"query": "query", "profile": "profile", "environment": "environmental"}


class AssistantOut(BaseModel):
    APP: str | None  # null: a refusal
    API: str | None
    params: dict[str, Any] = Field(default_factory=dict)
    explanation: str = ""


def _shown(spec: dict[str, Any], subset: str) -> bool:
    kind = source_of(spec)[0]
    return kind == "query" or (kind == "profile" and subset != "environment") or (
        kind == "environment" and subset != "persona")  # fmt: skip


def assistant_inputs(query: QueryRecord, user: UserRecord, world: Any, apps: dict[str, Any],
                     described: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """What the assistant sees of a sample (`world`: a ts_samples.World)."""
    tools = []
    for api in world.apis:
        function = api.function
        props = {str(k): v for k, v in ((function.get("parameters") or {}).get("properties") or {}).items()
                 if isinstance(v, dict) and _shown(v, query.subset)}  # fmt: skip
        needed = [r for r in (function.get("parameters") or {}).get("required") or [] if r in props]
        tools.append({"name": function["name"], "description": function.get("description", ""),
                      "category": api.category,
                      "parameters": {"type": "object", "properties": props, "required": needed}})  # fmt: skip
    return {
        "sample": query.key, "scenario": query.scenario, "subset": query.subset, "instruction": query.query,
        "persona": persona_of(user, {query.scenario: described}) if query.subset != "environment" else None,
        "environment": query.environment if query.subset != "persona" else None,
        "apps": [{"name": n, "desc": apps[n]["desc"], "policy": apps[n]["policy"]}
                 for n in world.platforms if n in apps],
        "tools": tools,
    }  # fmt: skip


def solution_of(key: str, out: AssistantOut, inputs: dict[str, Any]) -> SolutionRecord:
    """The assistant's answer as a SolutionRecord: values in their declared types, each argument
    with its declared source (an undeclared one has none); "name (type)" keys read as "name"."""
    if out.APP is None:
        return SolutionRecord(key=key, platform=None, calls=[])
    if not out.API:
        return SolutionRecord(key=key, platform=out.APP, calls=[])
    tool: dict[str, Any] = next((t for t in inputs["tools"] if t["name"] == out.API), {})
    specs = (tool.get("parameters") or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for name, value in out.params.items():
        param = re.sub(r"\s*\((str|int|float|bool|list|dict)\)$", "", str(name)).strip()
        spec = specs.get(param)
        arguments[param] = coerce(value, spec) if spec else value
        if spec:
            sources[param] = _SOURCES[source_of(spec)[0]]
    return SolutionRecord(key=key, platform=out.APP,
                          calls=[CallRecord(name=out.API, arguments=arguments, sources=sources)])  # fmt: skip


async def run_solutions(ctx: StageContext) -> None:
    """Stage `solutions`, ToolSpectrum mode: the assistant answers each query not yet solved."""
    from pertool.synth.stages.queries import run_all
    from pertool.synth.stages.ts_samples import worlds
    from pertool.synth.toolspectrum_writer import apps_of

    index = worlds(ctx)
    users = ctx.dir.read("users", UserRecord)
    done = ctx.dir.read("solutions", SolutionRecord)
    apps, described = apps_of(ctx.dir)
    jobs = []
    for key, query in sorted(ctx.dir.read("queries", QueryRecord).items()):
        world = index.get(query.scenario)
        if key in done or world is None or query.user not in users:
            continue
        inputs = assistant_inputs(query, users[query.user], world, apps, described.get(query.scenario, {}))
        jobs.append(_solve(ctx, key, inputs))
    await run_all(jobs)


async def _solve(ctx: StageContext, key: str, inputs: dict[str, Any]) -> None:
    out = await ctx.llm.ask("solutions.toolspectrum", INSTRUCTIONS, inputs, AssistantOut, ctx.stats)
    if out is None:  # counted as "invalid_output"; `verify` rejects the query (no_solution)
        return
    ctx.stats.accepted += 1
    ctx.write("solutions", solution_of(key, out, inputs))


def judge_inputs(assistant: dict[str, Any], query: QueryRecord, solution: SolutionRecord,
                 policy: str) -> dict[str, Any]:  # fmt: skip
    """What the judge sees: the assistant's view, the plan's target, and the answer. The keys the
    PTBench mode's judge reads are kept (query, target_platform, intended_tools, ...)."""
    return {
        **assistant, "toolspectrum": True, "query": query.query,
        "target_platform": None if query.violates_policy else query.platform,
        "intended_tools": [assistant_api(query)], "stated_values": query.values,
        "violates_policy": query.violates_policy, "policy": policy or None,
        "solution": {"platform": solution.platform,
                     "calls": [c.model_dump(mode="json") for c in solution.calls]},
    }  # fmt: skip


def assistant_api(query: QueryRecord) -> str:
    """The function name of the query's API ("<scenario>/<name>" -> name)."""
    return query.apis[0].split("/", 1)[-1] if query.apis else ""


# -- the scripted assistant and judge ----------------------------------------------------------

# slot -> the wrong answer given there (see the module's docstring).
SLOTS = {2: "no_solution", 5: "assistant_app", 19: "assistant_api", 23: "assistant_params",
         36: "assistant_refusal", 40: "judge:parameters", 51: "judge:hallucination", 55: "judge:solves",
         # the judge's again at requests 10-15 of a user (a slot can fall on a sample a rule rejects)
         13: "judge:parameters", 29: "judge:hallucination", 47: "judge:solves"}
_KEY = re.compile(r"^user-(\d+)/(\d+)$")
_RULED = re.compile(r"the app to use when (.+?) is (.+?)(?=;|\.$)")
_PREFERS = re.compile(r"^In (.+?), (?:for (.+?)|otherwise), usually uses (.+)\.$")


def slot_of(key: str) -> int | None:
    """A query key's slot ("user-<n>/<i>" -> (16 n + i) % 128; None for another key)."""
    match = _KEY.match(key)
    return (16 * int(match.group(1)) + int(match.group(2))) % 128 if match else None


def slot_fault(key: str) -> str | None:
    slot = slot_of(key)
    return SLOTS.get(slot) if slot is not None else None


def words(name: str) -> str:
    return " ".join(w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name))


def _named_tool(text: str, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The tool whose name's words the instruction says (the longest where several)."""
    low = " ".join(re.findall(r"[a-z0-9]+", text.lower()))
    named = [t for t in tools if f" {words(t['name'])} " in f" {low} "]
    return max(named, key=lambda t: len(words(t["name"])), default=None)


def _forbidden_by(rule: str, api: str, persona: dict[str, Any], environment: dict[str, Any]) -> bool:
    """Whether a policy text forbids `api` here, as a reader of the scripted policies' wording
    ("under <n>", "while the network (weather) is <v>", "low-income"); a wording it does not know
    forbids nothing."""
    if not re.search(rf"\b{re.escape(api)}\b", rule):
        return False
    if age := re.search(r"\bunder (\d+)\b", rule):
        found = str(persona.get("Age", "")).strip()
        return found.isdigit() and int(found) < int(age.group(1))
    if situation := re.search(r"\bwhile the (network|weather) is ([a-z ]+?),", rule, re.IGNORECASE):
        factor = {"network": "Network Condition", "weather": "Weather"}[situation.group(1).lower()]
        return same(environment.get(factor, ""), situation.group(2))
    if re.search(r"\blow-income\b", rule, re.IGNORECASE):
        return str(persona.get("Income Level", "")).strip().casefold() in ("low", "low income")
    return False


def _app(inputs: dict[str, Any], tool: dict[str, Any]) -> str | None:
    """The app the situation singles out, else the one the persona prefers for the tool's category."""
    apps, environment = inputs["apps"], inputs.get("environment") or {}
    fired = list(dict.fromkeys(a["name"] for a in apps for factor, value in _RULED.findall(a["desc"])
                               if factor in environment and same(environment[factor], value)))  # fmt: skip
    if len(fired) == 1:
        return str(fired[0])
    prefers: dict[str, str] = {}
    for sentence in (inputs.get("persona") or {}).get("Preferences", []):
        match = _PREFERS.match(str(sentence))
        if match and match.group(1) == inputs["scenario"]:
            prefers[match.group(2) or ""] = match.group(3)
    choice = prefers.get(str(tool.get("category", ""))) or prefers.get("")
    if choice and choice.startswith("the app whose "):
        trait, _, value = choice[len("the app whose "):].partition(" is ")
        return next((str(a["name"]) for a in apps if f"{trait}: {value}" in a["desc"]), None)
    return choice


def _params(tool: dict[str, Any], text: str, persona: dict[str, Any],
            environment: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    for name, spec in (tool["parameters"].get("properties") or {}).items():
        kind, fact = source_of(spec)
        if kind == "query":
            stated = re.search(rf'\bthe {re.escape(words(name))} is "([^"]*)"', text, re.IGNORECASE)
            if stated:
                out[name] = coerce(stated.group(1), spec)
        elif kind == "profile":
            found, value = fact_value(persona_key(fact), persona)
            if found and (not isinstance(spec.get("enum"), list) or str(value) in map(str, spec["enum"])):
                out[name] = coerce(value, spec)
        elif fact in environment:
            hit = [v for k, v in (spec.get("x-values") or {}).items() if same(k, environment[fact])]
            if hit:
                out[name] = hit[0]
    return out


def _scripted_assistant(inputs: dict[str, Any]) -> dict[str, Any]:
    text, tools, apps = str(inputs["instruction"]), inputs["tools"], inputs["apps"]
    persona, environment = inputs.get("persona") or {}, inputs.get("environment") or {}
    refusal: dict[str, Any] = {"APP": None, "API": None, "params": {},
                               "explanation": "Every app's policy forbids this."}  # fmt: skip
    tool = _named_tool(text, tools)
    if tool is None or not apps:
        return {**refusal, "explanation": "No tool serves this request."}
    name = str(tool["name"])
    forbidding = [a for a in apps if any(_forbidden_by(r, name, persona, environment) for r in a["policy"])]
    params = _params(tool, text, persona, environment)
    answer: dict[str, Any] = refusal if len(forbidding) == len(apps) else {
        "APP": _app(inputs, tool) or apps[0]["name"], "API": name, "params": params,
        "explanation": "As the request, persona and situation say."}  # fmt: skip
    fault = slot_fault(str(inputs.get("sample", "")))
    names = [str(a["name"]) for a in apps]
    if fault == "no_solution":  # the keys in lower case: not the schema, asked again, alike
        return {k.lower(): v for k, v in answer.items()}
    if fault == "assistant_refusal":  # over-cautious, or the policy overlooked
        overlooked = {"APP": names[0], "API": name, "params": _params(tool, text, persona, environment)}
        return refusal if answer["APP"] else overlooked
    if answer["APP"] is None:
        return answer
    if fault == "assistant_app" and len(names) > 1:  # the app next to the right one
        at = names.index(answer["APP"]) if answer["APP"] in names else -1
        answer["APP"] = names[(at + 1) % len(names)]
    elif fault == "assistant_api" and len(tools) > 1:  # a sibling API of the same category, if any
        others = [t for t in tools if t["name"] != name]
        other = next((t for t in others if t.get("category") == tool.get("category")), others[0])
        answer.update(API=other["name"], params=_params(other, text, persona, environment))
    elif fault == "assistant_params" and params:  # a persona fact or a setting left out
        left = [p for p in params if source_of(tool["parameters"]["properties"][p])[0] != "query"]
        params.pop((left or sorted(params))[0])
    return answer


def scripted_judge(inputs: dict[str, Any]) -> dict[str, int]:
    """9 on every score where the answer is the target's (the app and API, or a refusal), else
    `solves` 3; too strict on purpose (5) at the judge's slots."""
    solution = inputs["solution"]
    if inputs["violates_policy"]:
        right = solution["platform"] is None
    else:
        right = solution["platform"] == inputs["target_platform"] and [
            c["name"] for c in solution["calls"]] == inputs["intended_tools"]  # fmt: skip
    scores = {"parameters": 9, "hallucination": 9, "solves": 9 if right else 3}
    fault = slot_fault(str(inputs.get("sample", "")))
    if fault and fault.startswith("judge:"):
        scores[fault.split(":", 1)[1]] = 5
    return scores


SCRIPTED = {"solutions.toolspectrum": _scripted_assistant}
