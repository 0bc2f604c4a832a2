"""PTool's back stages (queries, solutions, verify) against a loopback scripted LLM server:
coherent input is all accepted, every rule's rejection path and the judge's are counted with
their reasons, re-runs make no request, a crash mid-stage resumes without repeating one, and
the environment option yields refusal golds."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pertool.errors import BackendError
from pertool.modelcalls.cache import ResponseCache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth import scripted
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import run_stages
from pertool.synth.records import (
    ApiRecord,
    CallRecord,
    ChainRecord,
    HistoryRecord,
    PlatformRecord,
    QueryRecord,
    ScenarioConfig,
    SolutionRecord,
    SynthConfig,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.stages import dataset, histories, queries, solutions, verify
from pertool.synth.stages.histories import HistoryOut
from pertool.synth.stages.needs import phrasings
from pertool.synth.stages.queries import occurs, properties
from pertool.synth.store import PipelineDir
from support.scripted_llm import ScriptedLLM

STAGES = {"queries": queries.run, "solutions": solutions.run, "verify": verify.run}
FILES = {"queries": ("queries", QueryRecord), "solutions": ("solutions", SolutionRecord),
         "verify": ("verdicts", VerdictRecord)}


# -- the loopback scripted server (support/scripted_llm.py) --------------------------------------


@pytest.fixture
def server():
    s = ScriptedLLM()
    yield s
    s.stop()


def run(server: ScriptedLLM, directory: Path, config: SynthConfig, only: list[str] | None = None,
        concurrency: int = 8, stages: dict[str, Any] | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=server.url))
        cache = ResponseCache(directory.parent / f"{directory.name}.sqlite3")
        llm = SynthLLM(backend, cache, Sampling(), concurrency=concurrency)
        try:
            return await run_stages(PipelineDir(directory), config, llm, stages or STAGES, only)
        finally:
            await backend.aclose()
            cache.close()

    return asyncio.run(go())


# -- hand-made upstream records ------------------------------------------------------------
# Users are keyed by name, not "user-<n>": the scripted faults (synth/faults.py) sit at numbered
# keys only, so this coherent input gets only right answers.

PLATFORMS = [
    PlatformRecord(key="shopping/MegaMart", scenario="shopping", name="MegaMart",
                   characteristics={"price level": "budget", "delivery speed": "three to five days", "catalogue": "huge"},
                   policy=["Alcohol is only sold to customers aged 21 or over"]),
    PlatformRecord(key="shopping/SwiftCart", scenario="shopping", name="SwiftCart",
                   characteristics={"price level": "premium", "delivery speed": "same-day", "catalogue": "curated"},
                   policy=["No more than 10 units of one item per order"]),
    PlatformRecord(key="takeout/FastBite", scenario="takeout", name="FastBite",
                   characteristics={"price level": "budget", "delivery time": "under 20 minutes"},
                   policy=["No deliveries after midnight"]),
    PlatformRecord(key="takeout/GourmetGo", scenario="takeout", name="GourmetGo",
                   characteristics={"price level": "premium", "delivery time": "about an hour"},
                   policy=["Orders must be placed at least one hour ahead"]),
]


def _q(kind: str, examples: list, **more: Any) -> dict:
    return {"type": kind, "x-source": "query", "examples": examples, **more}


def _p(feature: str, kind: str = "string", **more: Any) -> dict:
    return {"type": kind, "x-source": f"profile:{feature}", **more}


_ENV = {"type": "string", "x-source": "environment:location"}  # environment option only
_PAY = _p("payment method", enum=["credit card", "debit card", "PayFlow wallet"])


def _api(scenario: str, category: str, name: str, props: dict[str, dict], required: list[str]) -> ApiRecord:
    return ApiRecord(key=f"{scenario}/{name}", scenario=scenario, path=[category, name], function={
        "name": name, "description": f"{name.replace('_', ' ')} on a platform",
        "parameters": {"type": "object", "properties": props, "required": required}})


APIS = [
    _api("shopping", "orders", "place_order", {
        "item": _q("string", ["desk lamp", "yoga mat", "coffee grinder"]), "quantity": _q("integer", [1, 2, 3]),
        "delivery_date": _q("string", ["2025-05-02", "2025-06-11"]), "address": _p("home address"),
        "phone": _p("phone number"), "paymentMethod": _PAY, "network": {**_ENV, "x-source": "environment:network"}},
        ["item", "quantity", "address", "paymentMethod"]),
    _api("shopping", "search", "search_products", {
        "keyword": _q("string", ["standing desk", "espresso machine", "hiking backpack"]),
        "sortBy": _q("string", ["price", "rating"], enum=["price", "rating", "newest"]),
        "email": _p("email")}, ["keyword"]),
    _api("takeout", "delivery", "order_food", {
        "dish": _q("string", ["pad thai", "miso ramen", "falafel wrap"]), "quantity": _q("integer", [1, 2, 4]),
        "address": _p("home address"), "paymentMethod": _PAY, "note": _q("string", ["no cutlery needed"]),
        "location": _ENV},
        ["dish", "quantity", "address"]),
    _api("takeout", "tables", "book_table", {
        "restaurant": _q("string", ["Golden Lotus", "Trattoria Sole", "Casa Verde"]),
        "date": _q("string", ["2025-03-14", "2025-04-01"]), "time": _q("string", ["19:30", "20:15"]),
        "partySize": _q("integer", [2, 4, 6]), "customerName": _p("name"), "location": _ENV},
        ["restaurant", "date", "time", "partySize", "customerName"]),
]
CHAINS = [ChainRecord(key="shopping/search_products+place_order", scenario="shopping",
                      apis=["shopping/search_products", "shopping/place_order"], shared=[])]


def _user(key: str, explicit: dict, prefs: dict[str, dict[str, str]]) -> UserRecord:
    return UserRecord(key=key, explicit=explicit, implicit={s: {"price sensitivity": "high"} for s in prefs},
                      preferences=prefs)


USERS = [
    _user("maya", {"name": "Maya Lindqvist", "age": 29, "home address": "14 Harbor Lane, Northvale",
                   "phone number": "+1-555-201-3344", "email": "maya.l@mailbox.example",
                   "payment method": "debit card", "occupation": "nurse"},
          {"shopping": {"orders": "MegaMart", "search": "SwiftCart", "": "MegaMart"},
           "takeout": {"delivery": "GourmetGo", "tables": "FastBite", "": "GourmetGo"}}),
    _user("owen", {"name": "Owen Tanaka", "age": 19, "home address": "88 Quarry Road, Westmoor",
                   "phone number": "+1-555-774-0912", "email": "owen.t@mailbox.example",
                   "payment method": "PayFlow wallet", "occupation": "student"},
          {"shopping": {"orders": "SwiftCart", "search": "SwiftCart", "": "SwiftCart"},
           "takeout": {"delivery": "FastBite", "tables": "GourmetGo", "": "FastBite"}}),
    _user("iris", {"name": "Iris Moreau", "age": 41, "home address": "5 Linden Court, Lakemont",
                   "phone number": "+1-555-300-1200", "email": "iris.m@mailbox.example",
                   "payment method": "credit card", "occupation": "architect"},
          {"shopping": {"orders": "SwiftCart", "search": "MegaMart", "": "SwiftCart"},
           "takeout": {"delivery": "FastBite", "tables": "FastBite", "": "FastBite"}}),
]
# Each user's history per condition: its preferred platform most often.
HISTORIES = [HistoryRecord(key=f"{u.key}/{s}/{i}", user=u.key, scenario=s, platform=p, action=f"Did {c} errand {i}",
                           condition=c)
             for u in USERS for s, prefs in u.preferences.items()
             for i, (c, p) in enumerate((c, p) for c, p in prefs.items() if c for p in (p, p))]


def config(**changes: Any) -> SynthConfig:
    return SynthConfig(scenarios=[ScenarioConfig(name="shopping"), ScenarioConfig(name="takeout")],
                       **{"queries_per_user": 4, **changes})


def start(directory: Path, cfg: SynthConfig) -> PipelineDir:
    d = PipelineDir(directory)
    d.start(cfg)
    for name, records in (("platforms", PLATFORMS), ("apis", APIS), ("chains", CHAINS), ("users", USERS),
                          ("histories", HISTORIES)):
        write(d, name, records)
    return d


def write(d: PipelineDir, name: str, records: list) -> None:
    (d.path / f"{name}.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))


def dump(d: PipelineDir, stage: str) -> dict[str, dict]:
    name, model = FILES[stage]
    return {k: r.model_dump() for k, r in d.read(name, model).items()}


def lines(d: PipelineDir, name: str) -> int:
    return len((d.path / f"{name}.jsonl").read_text().splitlines())


# -- tests ---------------------------------------------------------------------------------


def test_coherent_input_is_all_accepted_and_a_rerun_asks_nothing(tmp_path, server):
    cfg = config(chain_share=0.3, need_share=0.25)
    d = start(tmp_path / "run", cfg)
    summary = run(server, d.path, cfg)
    qs, sols, verdicts = d.read("queries", QueryRecord), d.read("solutions", SolutionRecord), d.read(
        "verdicts", VerdictRecord)
    assert len(qs) == len(sols) == len(verdicts) == 12
    assert all(v.accepted and v.scores == {"parameters": 9, "hallucination": 9, "solves": 9}
               for v in verdicts.values()), [v for v in verdicts.values() if not v.accepted]
    assert summary["verify"]["accepted"] == 12 and summary["verify"]["rejected"] == {}
    assert summary["queries"]["accepted"] == summary["solutions"]["accepted"] == 12
    assert server.tasks["queries.write"] == server.tasks["solutions.solve"] == server.tasks["verify.judge"] == 12
    assert summary["queries"]["calls"] + summary["solutions"]["calls"] + summary["verify"]["calls"] == server.total
    users = {u.key: u for u in USERS}
    apis = {a.key: a for a in APIS}
    chains = needs = 0
    for key, q in qs.items():
        s, user = sols[key], users[q.user]
        assert q.condition == apis[q.apis[0]].category
        if q.need:  # the need decides: the platform whose characteristic it is
            needs += 1
            assert q.need["phrasing"] in phrasings(q.need["characteristic"], q.need["value"])
            assert q.need["phrasing"].casefold() in q.query.casefold()
            assert q.platform != user.preferences[q.scenario][q.condition]
        else:  # the preference for the query's condition decides
            assert q.platform == user.preferences[q.scenario][q.condition]
        assert s.platform == q.platform and not q.violates_policy and q.environment is None
        assert sorted(q.platform_order) == sorted(p.name for p in PLATFORMS if p.scenario == q.scenario)
        assert q.platform not in q.query  # the platform is not named
        fns = [apis[k].function for k in q.apis]
        assert [c.name for c in s.calls] == [fn["name"] for fn in fns]  # every intended API, in order
        chains += len(q.apis) == 2
        for value in q.values.values():  # the user agent's own values, stated literally
            assert occurs(value, q.query)
        for call, fn in zip(s.calls, fns):
            for param, value in call.arguments.items():
                source = call.sources[param]
                assert call.sources and s.annotated_by[f"{fn['name']}.{param}"] == "evidence"
                declared = properties(fn)[param]["x-source"]
                if declared.startswith("profile:"):
                    assert source == "profile" and value == user.explicit[declared[8:]]
                    assert not occurs(value, q.query)
                else:
                    assert source == "query" and value == q.values[param]
    assert needs >= 1 and chains >= 1
    assert len({tuple(q.platform_order) for q in qs.values()}) > 2  # shuffled per sample

    before = server.total
    run(server, d.path, cfg)  # a finished pipeline: nothing to do
    for stage in STAGES:
        (d.path / f".done-{stage}").unlink()
    again = run(server, d.path, cfg)  # every key written already: skipped, no request
    assert server.total == before and max(server.contents.values()) == 1
    assert lines(d, "queries") == lines(d, "solutions") == lines(d, "verdicts") == 12
    assert again["verify"] == summary["verify"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_crash_mid_stage_resumes_without_repeating_a_request(tmp_path, server, stage):
    cfg = config()
    clean = start(tmp_path / "clean", cfg)
    reference = run(server, clean.path, cfg, concurrency=1)
    per_run = server.total
    server.reset()

    d = start(tmp_path / "crash", cfg)
    before = sum(reference[s]["calls"] for s in STAGES if list(STAGES).index(s) < list(STAGES).index(stage))
    server.fail_after = before + reference[stage]["calls"] // 2
    with pytest.raises(BackendError, match="scripted crash"):
        run(server, d.path, cfg, concurrency=1)
    assert not d.done(stage)
    name = FILES[stage][0]
    text = (d.path / f"{name}.jsonl").read_text()
    assert 0 < len(text.splitlines()) < 12
    (d.path / f"{name}.jsonl").write_text(text[: len(text) - 20])  # the last line torn by the crash
    server.fail_after = None
    summary = run(server, d.path, cfg, concurrency=1)
    assert server.total == per_run and max(server.contents.values()) == 1  # no request asked twice
    for s in STAGES:
        assert dump(d, s) == dump(clean, s)
        # the torn record had been counted (the summary is saved after each record) and is
        # counted again when it is written anew
        assert summary[s]["accepted"] == reference[s]["accepted"] + (s == stage)
    assert lines(d, name) == 12


# The environment option (ToolSpectrum mode) runs stages/ts_samples.py instead of these stages'
# PTBench logic: tests/test_synth_toolspectrum.py covers it (ts, issue 14).


def test_scripted_judge_flags_inconsistent_solutions():
    base = {"query": 'Please place order. The item is "desk lamp".', "profile": {"address": "1 Elm St"},
            "environment": None, "violates_policy": False, "target_platform": "MegaMart",
            "intended_tools": ["place_order"], "tools": [APIS[0].function]}
    good = {"platform": "MegaMart", "calls": [CallRecord(name="place_order", arguments={
        "item": "desk lamp", "address": "1 Elm St"}, sources={"item": "query", "address": "profile"}).model_dump()]}
    assert scripted.answer("verify.judge", {**base, "solution": good}) == {"parameters": 9, "hallucination": 9,
                                                                           "solves": 9}
    bad = json.loads(json.dumps(good))
    bad["calls"][0]["arguments"].update(item="sofa", colour="red")
    bad["calls"][0]["sources"].update(item="query", colour="query")
    assert scripted.answer("verify.judge", {**base, "solution": bad}) == {"parameters": 4, "hallucination": 2,
                                                                          "solves": 9}
    assert scripted.answer("verify.judge", {**base, "solution": {"platform": None, "calls": []}})["solves"] == 2
    assert set(scripted.known_tasks()) >= {"queries.write", "solutions.solve", "solutions.annotate", "verify.judge"}


# -- review findings (issue 14): each rule or bound on its own ------------------------------------


def _query(user: UserRecord, api: ApiRecord, text: str, **more: Any) -> QueryRecord:
    return QueryRecord(key=f"{user.key}/0", user=user.key, scenario=api.scenario,
                       platform=user.preferences[api.scenario][api.category], apis=[api.key], query=text,
                       condition=api.category, platform_order=["SwiftCart", "MegaMart"], **more)  # fmt: skip


def test_a_call_beyond_the_intended_ones_is_rejected():
    """An added or repeated call is a T-excess error: only the intended calls pass the rules."""
    index = {"shopping": verify.Scenario([p for p in PLATFORMS if p.scenario == "shopping"],
                                         [a for a in APIS if a.scenario == "shopping"])}  # fmt: skip
    maya, search = USERS[0], APIS[1]
    query = _query(maya, search, 'Please search products. The keyword is "yoga mat".', values={"keyword": "yoga mat"})
    call = CallRecord(name="search_products", arguments={"keyword": "yoga mat"}, sources={"keyword": "query"})
    history = [h for h in HISTORIES if h.user == "maya" and h.scenario == "shopping"]

    def failures(*calls: CallRecord) -> list[str]:
        solution = SolutionRecord(key=query.key, platform=query.platform, calls=list(calls))
        return verify.rule_failures(query, solution, index["shopping"], maya.explicit, history)

    assert failures(call) == []
    assert failures(call, call) == ["unexpected_call"]
    order = CallRecord(name="place_order", arguments={}, sources={})
    assert "unexpected_call" in failures(call, order)
    assert failures(order) == ["intended_api_missing", "required_missing"]  # swapped, not extra


def test_a_named_platform_is_no_evidence_for_it():
    """Naming a platform in the query does not support it: only the history of the query's
    condition or a stated need does (and the queries stage rejects a named platform)."""
    index = {"shopping": verify.Scenario([p for p in PLATFORMS if p.scenario == "shopping"],
                                         [a for a in APIS if a.scenario == "shopping"])}  # fmt: skip
    maya, search = USERS[0], APIS[1]
    query = _query(maya, search, 'Search products on MegaMart. The keyword is "yoga mat".',
                   values={"keyword": "yoga mat"})  # fmt: skip
    solution = SolutionRecord(key=query.key, platform="MegaMart", calls=[CallRecord(
        name="search_products", arguments={"keyword": "yoga mat"}, sources={"keyword": "query"})])
    history = [h for h in HISTORIES if h.user == "maya" and h.scenario == "shopping" and h.condition != "search"]
    assert "platform_evidence" in verify.rule_failures(query, solution, index["shopping"], maya.explicit, history)


def test_annotations_skip_undeclared_arguments_and_are_bounded(tmp_path):
    """Junk arguments and calls to unknown tools cost no annotation; a solution whose every
    argument needs one asks at most MAX_ANNOTATIONS, and verify rejects the rest unannotated."""
    asked: list[tuple[str, str]] = []

    def hostile(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task == "solutions.solve":
            for call in answer["calls"]:
                call["arguments"] = {p: "zzz" for p in properties(APIS_BY_NAME[call["name"]].function)}
                call["arguments"].update({f"junk{i}": i for i in range(40)})
            answer["calls"].append({"name": "teleport", "arguments": {"where": "zzz"}})
        if task == "solutions.annotate":
            asked.append((inputs["sample"], inputs["parameter"]))
        return answer

    server = ScriptedLLM(override=hostile)
    try:
        cfg = config()
        d = start(tmp_path / "run", cfg)
        summary = run(server, d.path, cfg)
    finally:
        server.stop()
    assert asked and not any(p.startswith("junk") or p == "where" for _, p in asked)
    per_solution = Counter(sample for sample, _ in asked)
    assert max(per_solution.values()) == solutions.MAX_ANNOTATIONS  # place_order has more than that
    assert server.tasks["solutions.annotate"] == len(asked) <= 12 * solutions.MAX_ANNOTATIONS
    assert summary["verify"]["accepted"] == 0
    assert {"unknown_parameter", "unknown_tool", "source_missing"} <= set(summary["verify"]["rejected"])


APIS_BY_NAME = {a.function["name"]: a for a in APIS}


def test_histories_are_asked_again_and_require_their_condition(tmp_path):
    """A first answer whose records lack a known condition is asked again with the problems; the
    schema itself requires each record's condition."""
    assert "condition" in HistoryOut.model_json_schema()["$defs"]["ActionOut"]["required"]

    def unlabelled(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task == "histories.roleplay" and not inputs.get("rejected"):
            for record in answer["records"]:
                record["condition"] = "misc"
        return answer

    server = ScriptedLLM(override=unlabelled)
    cfg = config()
    d = start(tmp_path / "run", cfg)
    (d.path / "histories.jsonl").unlink()
    try:
        summary = run(server, d.path, cfg, stages={"histories": histories.run})
    finally:
        server.stop()
    batches = len(USERS) * 2
    assert server.tasks["histories.roleplay"] == 2 * batches
    assert summary["histories"]["rejected"] == {"unknown_condition": batches, "preference_not_revealed": batches}
    written = d.read("histories", HistoryRecord)
    assert {(h.user, h.scenario) for h in written.values()} == {(u.key, s) for u in USERS for s in ("shopping",
                                                                                                     "takeout")}
    assert all(h.condition in ("orders", "search", "delivery", "tables") for h in written.values())


def test_no_query_is_asked_where_the_user_has_no_history(tmp_path, server):
    """A plan whose user has no history for its scenario and condition is rejected "no_history"
    without a call; the other plans are the same as with the full history."""
    cfg = config()
    full = start(tmp_path / "full", cfg)
    run(server, full.path, cfg, only=["queries"])
    d = start(tmp_path / "gap", cfg)
    write(d, "histories", [h for h in HISTORIES if not (h.user == "owen" and h.scenario == "takeout")])
    server.reset()
    summary = run(server, d.path, cfg, only=["queries"])
    before, after = d.read("queries", QueryRecord), full.read("queries", QueryRecord)
    gone = {k for k, q in after.items() if q.user == "owen" and q.scenario == "takeout"}
    assert gone and set(before) == set(after) - gone
    assert all(before[k] == after[k] for k in before)  # the same plans, the same queries
    assert summary["queries"]["rejected"] == {"no_history": len(gone)}
    assert server.tasks["queries.write"] == len(before)


@pytest.mark.parametrize("stage", ["histories", "queries"])
def test_a_resumed_run_counts_each_rejection_once(tmp_path, stage):
    """Rejected batches and queries are kept (history_rejections, query_rejections), so a crash
    and resume gives the summary of an uninterrupted run, and asks nothing twice."""

    def wrong(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task == "histories.roleplay" and inputs["user"] == "owen":  # never revealing a preference
            names = [p["name"] for p in inputs["platforms"]]
            for record in answer["records"]:
                record["platform"] = next(n for n in names if n != record["platform"])
        if task == "queries.write" and inputs["index"] % 2:
            answer["values"] = {}  # a required value missing
        return answer

    stages = {"histories": histories.run, "queries": queries.run}
    cfg = config()

    def fresh(name: str) -> PipelineDir:
        d = start(tmp_path / name, cfg)
        (d.path / "histories.jsonl").unlink()
        return d

    server = ScriptedLLM(override=wrong)
    try:
        clean = fresh("clean")
        reference = run(server, clean.path, cfg, concurrency=1, stages=stages)
        per_run = server.total
        assert reference["histories"]["rejected"]["preference_not_revealed"] == 4  # owen's, asked twice each
        assert reference["queries"]["rejected"]["missing_value"] >= 1
        server.reset()
        d = fresh("crash")
        server.fail_after = (reference["histories"]["calls"] if stage == "queries" else 0) + 2
        with pytest.raises(BackendError, match="scripted crash"):
            run(server, d.path, cfg, concurrency=1, stages=stages)
        assert not d.done(stage)
        server.fail_after = None
        summary = run(server, d.path, cfg, concurrency=1, stages=stages)
    finally:
        server.stop()
    assert server.total == per_run and max(server.contents.values()) == 1
    for s in stages:
        assert summary[s]["rejected"] == reference[s]["rejected"], s
        assert summary[s]["accepted"] == reference[s]["accepted"], s


def test_queries_moved_to_train_are_not_counted_as_rejected(tmp_path, server):
    """A trained user's test query that train also has moves to train: still accepted, noted in
    manifest.json as moved_to_train, not counted as a rejection."""
    cfg = config(untrained_users=0, test_share=0.5, queries_per_user=8)
    d = start(tmp_path / "run", cfg)
    run(server, d.path, cfg)
    lines_ = [QueryRecord.model_validate_json(line) for line in (d.path / "queries.jsonl").read_text().splitlines()]
    texts = {q.key.split("/")[1]: q.query for q in lines_ if q.user == "maya"}
    same = [q.model_copy(update={"query": texts.get(q.key.split("/")[1], q.query)}) for q in lines_]
    write(d, "queries", same)  # every user asks what maya asks at the same index
    summary = run(server, d.path, cfg, stages={"dataset": dataset.run})
    manifest = json.loads((d.path / "manifest.json").read_text())
    assert manifest["moved_to_train"] >= 1
    assert summary["dataset"]["rejected"] == {}
    accepted = sum(v.accepted for v in d.read("verdicts", VerdictRecord).values())
    assert sum(manifest["counts"].values()) == summary["dataset"]["accepted"] == accepted > 20


def test_judge_and_user_agent_get_no_environment_fields(tmp_path):
    """The PTBench mode has no situations or policy breaks: the user agent is told neither, and
    the judge is not told a policy flag that is always false."""
    seen: dict[str, set[str]] = {}

    def capture(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        seen.setdefault(task, set()).update(inputs)
        return answer

    server = ScriptedLLM(override=capture)
    try:
        cfg = config()
        d = start(tmp_path / "run", cfg)
        run(server, d.path, cfg)
    finally:
        server.stop()
    assert not {"environment", "violate_policy"} & seen["queries.write"] and "platforms" in seen["queries.write"]
    assert "violates_policy" not in seen["verify.judge"]
    assert not hasattr(queries, "situation") and not hasattr(queries, "ENVIRONMENT")
