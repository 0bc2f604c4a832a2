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
    HistoryRecord,
    PlatformRecord,
    QueryRecord,
    ScenarioConfig,
    SolutionRecord,
    SynthConfig,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.stages import queries, solutions, verify
from pertool.synth.stages.queries import occurs, profile_feature, properties
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
        concurrency: int = 8) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=server.url))
        cache = ResponseCache(directory.parent / f"{directory.name}.sqlite3")
        llm = SynthLLM(backend, cache, Sampling(), concurrency=concurrency)
        try:
            return await run_stages(PipelineDir(directory), config, llm, STAGES, only)
        finally:
            await backend.aclose()
            cache.close()

    return asyncio.run(go())


# -- hand-made upstream records ------------------------------------------------------------

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
_S, _I, _N = {"type": "string"}, {"type": "integer", "minimum": 1, "maximum": 5}, {"type": "number"}
_PAY = {"type": "string", "enum": ["credit card", "debit card", "PayFlow wallet"]}


def _api(scenario: str, name: str, props: dict[str, dict], required: list[str]) -> ApiRecord:
    return ApiRecord(key=f"{scenario}/{name}", scenario=scenario, path=[scenario, name], function={
        "name": name, "description": f"{name.replace('_', ' ')} on a platform",
        "parameters": {"type": "object", "properties": props, "required": required}})


APIS = [
    _api("shopping", "place_order", {"item": _S, "quantity": _I, "deliveryDate": {**_S, "format": "date"},
                                     "address": _S, "phone": _S, "paymentMethod": _PAY},
         ["item", "quantity", "address", "paymentMethod"]),
    _api("shopping", "search_products", {"keyword": _S, "maxPrice": _N,
                                         "sortBy": {"type": "string", "enum": ["price", "rating", "newest"]},
                                         "email": _S}, ["keyword"]),
    _api("takeout", "order_food", {"dish": _S, "quantity": _I, "address": _S, "phone": _S, "paymentMethod": _PAY,
                                   "location": _S, "note": _S}, ["dish", "quantity", "address"]),
    _api("takeout", "book_table", {"restaurant": _S, "date": _S, "time": _S, "partySize": _I, "customerName": _S,
                                   "phone": _S}, ["restaurant", "date", "time", "partySize", "customerName"]),
]
USERS = [
    UserRecord(key="user-000", explicit={"name": "Maya Lindqvist", "age": 29, "address": "14 Harbor Lane, Northvale",
                                         "phone": "+1-555-201-3344", "email": "maya.l@mailbox.example",
                                         "payment_method": "debit card"},
               implicit={"preferred_platform": {"shopping": "MegaMart", "takeout": "GourmetGo"},
                         "price_sensitivity": "high"}),
    UserRecord(key="user-001", explicit={"name": "Owen Tanaka", "age": 19, "home_address": "88 Quarry Road, Westmoor",
                                         "phone_number": "+1-555-774-0912", "email": "owen.t@mailbox.example",
                                         "payment_method": "PayFlow wallet"},
               implicit={"platform_affinity": {"shopping": "SwiftCart", "takeout": "FastBite"},
                         "cuisine_taste": "spicy"}),
    UserRecord(key="user-002", explicit={"name": "Iris Moreau", "age": 41, "home_address": "5 Linden Court, Lakemont",
                                         "work_address": "120 Mill Street, Lakemont", "phone": "+1-555-300-1200",
                                         "email": "iris.m@mailbox.example", "payment_method": "credit card"},
               implicit={"shopping": {"favourite platform": "SwiftCart"},
                         "takeout": {"favourite platform": "FastBite"}}),
]
_HISTORY = {  # user -> scenario -> platforms of the records (the preferred one most often)
    "user-000": {"shopping": ["MegaMart", "MegaMart", "SwiftCart"], "takeout": ["GourmetGo", "FastBite", "GourmetGo"]},
    "user-001": {"shopping": ["SwiftCart", "MegaMart", "SwiftCart"], "takeout": ["FastBite", "FastBite", "GourmetGo"]},
    "user-002": {"shopping": ["SwiftCart", "SwiftCart"], "takeout": ["FastBite", "GourmetGo", "FastBite"]},
}
HISTORIES = [HistoryRecord(key=f"{u}/{s}/{i}", user=u, scenario=s, platform=p, action=f"Used it for errand {i}")
             for u, by in _HISTORY.items() for s, ps in by.items() for i, p in enumerate(ps)]


def config(**changes: Any) -> SynthConfig:
    return SynthConfig(scenarios=[ScenarioConfig(name="shopping"), ScenarioConfig(name="takeout")],
                       **{"queries_per_user": 4, **changes})


def start(directory: Path, cfg: SynthConfig) -> PipelineDir:
    d = PipelineDir(directory)
    d.start(cfg)
    for name, records in (("platforms", PLATFORMS), ("apis", APIS), ("users", USERS), ("histories", HISTORIES)):
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
    cfg = config()
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
    needs = 0
    for key, q in qs.items():
        s, user = sols[key], users[q.user]
        assert s.platform == q.platform and not q.violates_policy and q.environment is None
        assert q.platform not in q.query  # the platform is not named
        needs += "should be" in q.query
        fn = apis[q.apis[0]].function
        assert [c.name for c in s.calls] == [fn["name"]]
        for param, value in s.calls[0].arguments.items():
            source = s.calls[0].sources[param]
            assert s.annotated_by[f"{fn['name']}.{param}"] == "evidence"
            if profile_feature(param, properties(fn)[param], user.explicit):
                assert source == "profile" and not occurs(value, q.query)
                assert value in user.explicit.values()
            else:
                assert source == "query" and occurs(value, q.query)
    assert needs >= 1  # some queries state the need that decides the platform

    before = server.total
    run(server, d.path, cfg)  # a finished pipeline: nothing to do
    for stage in STAGES:
        (d.path / f".done-{stage}").unlink()
    again = run(server, d.path, cfg)  # every key written already: skipped, no request
    assert server.total == before and max(server.contents.values()) == 1
    assert lines(d, "queries") == lines(d, "solutions") == lines(d, "verdicts") == 12
    assert again["verify"] == summary["verify"]


def test_every_rule_and_the_judge_reject_with_their_reasons(tmp_path, server):
    cfg = config(queries_per_user=8)
    d = start(tmp_path / "run", cfg)
    run(server, d.path, cfg, only=["queries"])
    # A query that states a profile value (the user's name) as its item: the annotation evidence
    # is ambiguous (in the query and in the profile), so the LLM decides; verify rejects it.
    leak = QueryRecord(key="user-000/99", user="user-000", scenario="shopping", platform="MegaMart",
                       apis=["shopping/place_order"],
                       query='Please place order. The item is "Maya Lindqvist"; the quantity is "2".')
    with open(d.path / "queries.jsonl", "a") as f:
        f.write(leak.model_dump_json() + "\n")
    run(server, d.path, cfg, only=["solutions"])
    sols = d.read("solutions", SolutionRecord)
    assert sols["user-000/99"].annotated_by["place_order.item"] == "llm"
    assert sols["user-000/99"].calls[0].sources["item"] == "query"
    assert server.tasks["solutions.annotate"] == 1

    qs = d.read("queries", QueryRecord)
    fns = {a.function["name"]: a.function for a in APIS}
    free = sorted(k for k in sols if k != "user-000/99")
    expected: dict[str, list[str]] = {"user-000/99": ["reveals_profile"]}

    def pick(test) -> tuple[str, SolutionRecord]:
        for key in free:
            if test(sols[key]):
                free.remove(key)
                return key, sols[key].model_copy(deep=True)
        raise AssertionError("no solution to inject into")

    def args_of(s: SolutionRecord, source: str, kind: str | None = None) -> list[str]:
        c = s.calls[0]
        return [p for p, src in sorted(c.sources.items()) if src == source
                and (kind is None or properties(fns[c.name])[p].get("type") == kind)]

    def inject(reasons: list[str], test, change) -> None:
        key, s = pick(test)
        change(key, s)
        sols[key] = s
        expected[key] = reasons

    def add_coupon(key, s):
        s.calls[0].arguments["coupon"] = "SPRING10"
        s.calls[0].sources["coupon"] = "query"

    def rename(key, s):
        s.calls[0].name = "teleport"

    def drop_required(key, s):
        p = fns[s.calls[0].name]["parameters"]["required"][0]
        del s.calls[0].arguments[p], s.calls[0].sources[p]

    def stringify(key, s):
        p = args_of(s, "query", "integer")[0]
        s.calls[0].arguments[p] = str(s.calls[0].arguments[p])

    def bad_enum(key, s):
        s.calls[0].arguments["paymentMethod"] = "bitcoin"

    def state_profile_value(key, s):
        p = args_of(s, "profile", "string")[0]
        qs[key] = qs[key].model_copy(update={"query": f"{qs[key].query} Send it to {s.calls[0].arguments[p]}."})

    def move_query_value(key, s):
        s.calls[0].arguments[args_of(s, "query", "string")[0]] = "a flying carpet"

    def invent_profile_value(key, s):
        s.calls[0].arguments[args_of(s, "profile", "string")[0]] = "1 Nowhere Street"

    def drop_source(key, s):
        del s.calls[0].sources[sorted(s.calls[0].sources)[0]]

    def other_platform(name):
        def change(key, s):
            s.platform = name
        return change

    def refuse(key, s):
        s.platform, s.calls = None, []

    def no_calls(key, s):
        s.calls = []

    def supported_other(s) -> str | None:
        q = qs[s.key]
        others = [h.platform for h in HISTORIES if h.user == q.user and h.scenario == q.scenario
                  and h.platform != s.platform]
        return others[0] if others and "should be" not in q.query else None

    has = lambda *ps: lambda s: set(ps) <= set(s.calls[0].arguments)  # noqa: E731
    inject(["unknown_parameter", "query_value_not_in_query"], lambda s: True, add_coupon)
    inject(["unknown_tool"], lambda s: True, rename)
    inject(["required_missing"], lambda s: True, drop_required)
    inject(["type_mismatch"], lambda s: bool(args_of(s, "query", "integer")), stringify)
    inject(["enum_violation", "profile_value_not_in_profile"], has("paymentMethod"), bad_enum)
    inject(["profile_value_in_query"], lambda s: bool(args_of(s, "profile", "string")), state_profile_value)
    inject(["query_value_not_in_query"], lambda s: bool(args_of(s, "query", "string")), move_query_value)
    inject(["profile_value_not_in_profile"], lambda s: bool(args_of(s, "profile", "string")), invent_profile_value)
    inject(["source_missing"], lambda s: True, drop_source)
    inject(["unknown_platform"], lambda s: True, other_platform("Amazing"))
    inject(["unexpected_refusal"], lambda s: True, refuse)
    inject(["format"], lambda s: True, no_calls)
    # user-002 has no shopping history on MegaMart: nothing supports it (unless a need names it)
    inject(["platform_evidence"], lambda s: qs[s.key].user == "user-002" and qs[s.key].scenario == "shopping"
           and s.platform == "SwiftCart", other_platform("MegaMart"))
    judged_key, s = pick(lambda s: supported_other(s) is not None)  # passes the rules; the judge rejects it
    s.platform = supported_other(s)
    sols[judged_key], expected[judged_key] = s, ["judge:solves=3"]
    missing, _ = pick(lambda s: True)
    del sols[missing]
    expected[missing] = ["format"]
    write(d, "solutions", list(sols.values()))
    write(d, "queries", list(qs.values()))

    summary = run(server, d.path, cfg, only=["verify"])
    verdicts = d.read("verdicts", VerdictRecord)
    assert len(verdicts) == len(qs) == 25
    for key, verdict in verdicts.items():
        assert verdict.reasons == expected.get(key, []), (key, verdict)
        assert verdict.accepted == (key not in expected)
    assert verdicts[judged_key].scores == {"parameters": 9, "hallucination": 9, "solves": 3}
    judged = [k for k, v in verdicts.items() if v.scores]
    assert server.tasks["verify.judge"] == len(judged) == len(verdicts) - len(expected) + 1
    counts = Counter(r.split("=")[0] for v in verdicts.values() for r in v.reasons)
    assert summary["verify"]["rejected"] == dict(counts)
    assert counts["judge:solves"] == 1 and summary["verify"]["accepted"] == len(verdicts) - len(expected)
    assert set(verify.RULES) - {"refusal_expected", "environment_value_not_in_environment"} <= set(counts)


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
