"""PTool's front stages (tools, features, users, histories) against a scripted LLM server.

The server is the tests' scripted LLM (support/scripted_llm.py, on the one stub server): it answers
each chat request with `pertool.synth.scripted.answer(task, inputs)`, exactly what `pertool
mock-server --scripted` does, and counts the requests per task, so a test can prove what was
asked and what was not. An `override(task, inputs, answer)` hook feeds bad answers through for
the rejection paths.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pertool.modelcalls.cache import ResponseCache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth import scripted
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import run_stages
from pertool.synth.records import (
    ApiRecord,
    ChainRecord,
    FeatureRecord,
    HistoryRecord,
    PlatformRecord,
    ScenarioConfig,
    SynthConfig,
    UserRecord,
)  # fmt: skip
from pertool.synth.stages import features, histories, tools, users
from pertool.synth.stages.features import DEMOGRAPHICS, StepRecord
from pertool.synth.stages.tools import (
    DraftRecord,
    is_identifier,
    is_placeholder,
    merge_near_duplicates,
    near_duplicate,
    similarity,
    source_of,
    validate_function,
)  # fmt: skip
from pertool.synth.store import PipelineDir
from support.scripted_llm import ScriptedLLM

FRONT = {"tools": tools.run, "features": features.run, "users": users.run, "histories": histories.run}
PRODUCES = {
    "tools": ["platforms", "apis", "chains"],
    "features": ["features"],
    "users": ["users"],
    "histories": ["histories"],
}
FILES = {"tools": "apis", "features": "features", "users": "users", "histories": "histories"}
TASK_OF = {"tools": "tools.api", "features": "features.values", "users": "users.profile",
           "histories": "histories.roleplay"}  # fmt: skip


@pytest.fixture
def server() -> Iterator[ScriptedLLM]:
    s = ScriptedLLM(prompt_tokens=100)
    yield s
    s.stop()


def config(**changes: Any) -> SynthConfig:
    base: dict[str, Any] = {
        "scenarios": [ScenarioConfig(name="shopping", platforms=2), ScenarioConfig(name="travel", platforms=3)],
        "tree_depth": 2, "branching": 2, "feature_threshold": 3, "users_per_layer": [2, 2],
        "history_per_scenario": 3, "seed": 7,
    }  # fmt: skip
    return SynthConfig(**{**base, **changes})


def run_front(
    directory: Path, cfg: SynthConfig, url: str, cache: Path, upto: str = "histories"
) -> dict[str, Any]:
    names = list(FRONT)
    stages = {name: FRONT[name] for name in names[: names.index(upto) + 1]}

    async def go() -> dict[str, Any]:
        backend = create_backend("openai-compatible/scripted", ModelOptions(base_url=url, max_attempts=1))
        store = ResponseCache(cache)
        try:
            llm = SynthLLM(backend, store, Sampling())
            return await run_stages(PipelineDir(directory), cfg, llm, stages)
        finally:
            await backend.aclose()  # type: ignore[attr-defined]
            store.close()

    return asyncio.run(go())


def records(directory: Path) -> dict[str, dict[str, Any]]:
    d = PipelineDir(directory)
    models = {"platforms": PlatformRecord, "apis": ApiRecord, "chains": ChainRecord, "features": FeatureRecord,
              "users": UserRecord, "histories": HistoryRecord}  # fmt: skip
    return {
        name: {k: r.model_dump() for k, r in d.read(name, model).items()} for name, model in models.items()
    }


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, Any], dict[str, int]]]:
    """One finished front pipeline (shared by the read-only checks and as a clean reference)."""
    s = ScriptedLLM(prompt_tokens=100)
    root = tmp_path_factory.mktemp("front")
    summary = run_front(root / "pipe", config(), s.url, root / "cache.sqlite3")
    yield root / "pipe", summary, s.take()
    s.stop()


Finished = tuple[Path, dict[str, Any], dict[str, int]]


# -- the records are valid and coherent ----------------------------------------------------------


def test_platforms_and_apis(finished: Finished) -> None:
    directory, summary, asked = finished
    d = PipelineDir(directory)
    platforms = d.read("platforms", PlatformRecord)
    apis = d.read("apis", ApiRecord)
    drafts = d.read("api_drafts", DraftRecord)
    assert len(drafts) == 8  # branching 2, depth 2, two scenarios: one draft per leaf
    folded = [k for a in apis.values() for k in a.merged_from]
    assert len(apis) == len([x for x in drafts.values() if not x.problem]) - len(folded)
    for scenario, count in (("shopping", 2), ("travel", 3)):
        mine = [p for p in platforms.values() if p.scenario == scenario]
        assert len(mine) == count
        assert all(3 <= len(p.characteristics) <= 5 and not p.policy for p in mine)
        assert len({json.dumps(p.characteristics, sort_keys=True) for p in mine}) == count
        leaves = [a for a in apis.values() if a.scenario == scenario]
        assert len(leaves) >= 3
        assert all(len(a.path) == 2 and a.key == f"{scenario}/{a.function['name']}" for a in leaves)
    assert all(validate_function(a.function) == "" for a in apis.values())
    rejected = summary["tools"]["rejected"]
    retried = sum(n for r, n in rejected.items() if r in ("missing_source", "bad_examples", "raw_feature_name",
                                                           "invalid_api_spec"))  # fmt: skip
    assert asked["tools.platforms"] == 2 and asked["tools.refine"] == 6 and asked["tools.api"] == 8 + retried
    assert asked["tools.chains"] == 2
    chains = d.read("chains", ChainRecord)
    assert summary["tools"]["accepted"] == len(platforms) + len(apis) + len(chains)
    assert rejected.get("near_duplicate", 0) == len(folded)


def test_parameters_declare_source_and_examples(finished: Finished) -> None:
    """Every parameter says where its value comes from and gives realistic examples (no
    "<parameter words> <number>" placeholders); profile features are named by what they are."""
    d = PipelineDir(finished[0])
    for api in d.read("apis", ApiRecord).values():
        kinds = set()
        for param, spec in api.function["parameters"]["properties"].items():
            kind, name = source_of(spec)
            kinds.add(kind)
            assert kind in ("query", "profile"), (api.key, param, spec)
            if kind == "profile":
                assert "_" not in name and name == name.lower() and name != param, (api.key, param, name)
            examples = spec["examples"]
            assert 3 <= len(examples) <= 8 and len(set(map(str, examples))) == len(examples), (api.key, param)
            assert not [e for e in examples if is_placeholder(param, e)], (api.key, param, examples)
        assert kinds == {"query", "profile"}, api.key


def test_chains(finished: Finished) -> None:
    d = PipelineDir(finished[0])
    apis = d.read("apis", ApiRecord)
    chains = d.read("chains", ChainRecord)
    assert {c.scenario for c in chains.values()} == {"shopping", "travel"}  # every tree here has chains
    for chain in chains.values():
        first, second = (apis[k] for k in chain.apis)
        assert first.scenario == second.scenario == chain.scenario and first.key != second.key
        assert first.function["name"].startswith("find") and second.function["name"].startswith("create")
        for param in chain.shared:
            for api in (first, second):
                assert source_of(api.function["parameters"]["properties"][param])[0] == "query"
        assert chain.shared and chain.key == f"{chain.scenario}/{first.function['name']}+{second.function['name']}"


def test_every_api_has_a_profile_and_a_query_parameter(finished: Finished) -> None:
    d = PipelineDir(finished[0])
    explicit = {f.name for f in d.read("features", FeatureRecord).values() if f.kind == "explicit"}
    the_users = d.read("users", UserRecord).values()
    for api in d.read("apis", ApiRecord).values():
        sources = [source_of(spec) for spec in api.function["parameters"]["properties"].values()]
        from_profile = [name for kind, name in sources if kind == "profile"]
        assert from_profile and set(from_profile) <= explicit, api.key
        assert any(kind == "query" for kind, _ in sources), api.key
        assert all(name in user.explicit for user in the_users for name in from_profile)


def test_feature_tree(finished: Finished) -> None:
    directory, summary, asked = finished
    d = PipelineDir(directory)
    tree = d.read("features", FeatureRecord)
    by_layer = {(f.layer, f.name): f for f in tree.values()}
    threshold = config().feature_threshold
    for kind in ("explicit", "implicit"):
        mine = [f for f in tree.values() if f.kind == kind]
        depth = max(f.layer for f in mine) + 1
        sizes = [sum(1 for f in mine if f.layer == layer) for layer in range(depth)]
        assert sizes[0] <= threshold, (kind, sizes)
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1], (kind, sizes)
        for feature in mine:
            assert len(feature.values) >= 2, feature
            for child in feature.children:  # never an explicit node under an implicit one
                assert by_layer[(feature.layer + 1, child)].kind == kind
                assert by_layer[(feature.layer + 1, child)].parent == feature.name
            if feature.layer < depth - 1:
                assert feature.children
    assert not {f.name for f in tree.values() if f.kind == "explicit"} & {
        f.name for f in tree.values() if f.kind == "implicit"
    }
    characteristics = {c for p in d.read("platforms", PlatformRecord).values() for c in p.characteristics}
    declared = {source_of(spec)[1] for a in d.read("apis", ApiRecord).values()
                for spec in a.function["parameters"]["properties"].values() if source_of(spec)[0] == "profile"}  # fmt: skip
    leaves = {f.name: f.kind for f in tree.values() if not f.children}
    assert {n for n, k in leaves.items() if k == "implicit"} == characteristics
    assert {n for n, k in leaves.items() if k == "explicit"} == declared | set(DEMOGRAPHICS)
    assert {"home address", "phone number"} <= declared  # named by what they are
    steps = d.read("feature_clusters", StepRecord)
    assert set(steps) == {"leaves", "explicit/1", "implicit/1"}  # threshold 3 forces one more round each
    assert all(g.kind == s.kind for s in steps.values() if s.kind for g in s.groups)
    assert summary["features"]["accepted"] == len(tree)
    first_asks = sum(len(by_layer[(f.layer - 1, f.parent)].values) if f.parent else 1 for f in tree.values())
    retried = sum(summary["features"]["rejected"].get(r, 0) for r in ("too_few_values", "placeholder_value"))
    assert asked["features.values"] == first_asks + retried


def test_values_are_top_down(finished: Finished) -> None:
    """A child's values are generated for each value of its parent, and a user's child value is
    one of those for the parent value the user has: no "price-insensitive" with a low price level."""
    d = PipelineDir(finished[0])
    tree = d.read("features", FeatureRecord)
    by_layer = {(f.kind, f.layer, f.name): f for f in tree.values()}
    children = [f for f in tree.values() if f.parent is not None]
    assert children
    for child in children:
        parent = by_layer[(child.kind, child.layer - 1, child.parent)]
        assert set(child.values_by_parent) == set(parent.values), child.name
        assert all(v in child.values for vs in child.values_by_parent.values() for v in vs)
        assert not [v for v in child.values if is_placeholder(child.name, v)], child.values
    price = next(f for f in tree.values() if f.name == "price level")
    assert "high" not in price.values_by_parent["budget-minded"]
    assert "low" not in price.values_by_parent["price-insensitive"]
    checked = 0
    for user in d.read("users", UserRecord).values():
        for child in children:
            parent = by_layer[(child.kind, child.layer - 1, child.parent)]
            if is_identifier(child.name) or parent.name == child.name:
                continue  # identifiers are made up per user; a group may keep its member's name
            where = user.explicit if child.kind == "explicit" else user.implicit["shopping"]
            mine, theirs = where.get(child.name), where.get(parent.name)
            assert mine in child.values_by_parent[theirs], (user.key, child.name, mine, parent.name, theirs)
            checked += 1
    assert checked >= 10


def test_users_top_down(finished: Finished) -> None:
    d = PipelineDir(finished[0])
    the_users = d.read("users", UserRecord)
    k = config().users_per_layer
    assert sorted(the_users) == [f"user-{i:03d}" for i in range(math.prod(k))]
    tree = d.read("features", FeatureRecord).values()
    explicit = {f.name for f in tree if f.kind == "explicit"}
    implicit = {f.name for f in tree if f.kind == "implicit"}
    for user in the_users.values():
        assert explicit <= set(user.explicit) and not implicit & set(user.explicit)
        assert set(DEMOGRAPHICS) <= set(user.explicit)
        for scenario in ("shopping", "travel"):
            assert set(user.implicit[scenario]) == implicit
    for name in {n for u in the_users.values() for n in u.explicit if is_identifier(n)}:
        values = [u.explicit[name] for u in the_users.values()]
        assert len(set(values)) == len(values), name
    # top-down: the two users of a layer-0 group share its layer-0 choice, the two groups differ
    root = [f.name for f in tree if f.layer == 0 and not is_identifier(f.name)]

    def signature(u: UserRecord) -> str:
        return json.dumps({n: u.explicit.get(n) or u.implicit["shopping"].get(n) for n in root})

    sigs = [signature(the_users[f"user-{i:03d}"]) for i in range(4)]
    assert sigs[0] == sigs[1] and sigs[2] == sigs[3] and sigs[0] != sigs[2]


def test_preferences_per_condition(finished: Finished) -> None:
    """Every user prefers a platform per category of the scenario's APIs and by default, and not
    the same one for every condition (the most-used platform is not always the answer)."""
    d = PipelineDir(finished[0])
    platforms = d.read("platforms", PlatformRecord).values()
    apis = d.read("apis", ApiRecord).values()
    differs = 0
    for user in d.read("users", UserRecord).values():
        assert set(user.preferences) == {"shopping", "travel"}
        for scenario, prefs in user.preferences.items():
            categories = {a.category for a in apis if a.scenario == scenario}
            assert set(prefs) == categories | {""}, (user.key, scenario)
            assert set(prefs.values()) <= {p.name for p in platforms if p.scenario == scenario}
            assert len(set(prefs.values())) >= 2, (user.key, scenario, prefs)
            differs += sum(platform != prefs[""] for condition, platform in prefs.items() if condition)
    assert differs >= 4


def test_histories_reveal_the_preference(finished: Finished) -> None:
    directory, summary, asked = finished
    d = PipelineDir(directory)
    the_users = d.read("users", UserRecord)
    platforms = d.read("platforms", PlatformRecord).values()
    history = d.read("histories", HistoryRecord)
    assert len(history) == len(the_users) * 2 * 3 == summary["histories"]["accepted"]
    # users n % 4 == 1 answer with records the rules drop, and are asked again (stages/histories.py)
    again = sum(int(key.split("-")[1]) % 4 == 1 for key in the_users)
    assert asked["histories.roleplay"] == (len(the_users) + again) * 2
    for user in the_users.values():
        for scenario in ("shopping", "travel"):
            mine = [history[f"{user.key}/{scenario}/{i}"] for i in range(3)]
            offered = {p.name for p in platforms if p.scenario == scenario}
            assert all(h.platform in offered and h.user == user.key and h.action for h in mine)
            assert Counter(h.platform for h in mine)
            assert not any("prefer" in h.action.lower() for h in mine)


# -- resume -----------------------------------------------------------------------------------------


def test_rerun_makes_no_request(tmp_path: Path, server: ScriptedLLM, finished: Finished) -> None:
    shutil.copytree(finished[0], tmp_path / "pipe")
    shutil.copy(finished[0].parent / "cache.sqlite3", tmp_path / "cache.sqlite3")
    summary, first = finished[1], records(tmp_path / "pipe")
    assert run_front(tmp_path / "pipe", config(), server.url, tmp_path / "cache.sqlite3") == summary
    assert server.take() == {}
    # Not even with every done marker gone and a fresh cache: the records alone say what is done.
    for marker in (tmp_path / "pipe").glob(".done-*"):
        marker.unlink()
    again = run_front(tmp_path / "pipe", config(), server.url, tmp_path / "fresh.sqlite3")
    assert server.take() == {}
    assert records(tmp_path / "pipe") == first
    assert {s: again[s]["accepted"] for s in FRONT} == {s: summary[s]["accepted"] for s in FRONT}


@pytest.mark.parametrize("stage", list(FRONT))
def test_torn_record_is_asked_again_alone(tmp_path: Path, server: ScriptedLLM, stage: str,
                                          finished: Finished) -> None:  # fmt: skip
    """A crash while writing a stage's last record: rerun with no cache at all asks only for it."""
    pipe = tmp_path / "pipe"
    shutil.copytree(finished[0], pipe)
    before = records(pipe)
    names = [FILES[stage]] + (["api_drafts"] if stage == "tools" else [])
    for name in names:
        file = pipe / f"{name}.jsonl"
        lines = file.read_bytes().splitlines(keepends=True)
        file.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # torn last line
    (pipe / f".done-{stage}").unlink()
    run_front(pipe, config(), server.url, tmp_path / "fresh.sqlite3")
    asked = server.take()
    assert set(asked) == {TASK_OF[stage]}  # the record asked again: once per parent value, or a second time
    assert asked[TASK_OF[stage]] <= (5 if stage == "features" else 2)
    assert records(pipe) == before
    if stage == "tools":
        assert len(PipelineDir(pipe).read("api_drafts", DraftRecord)) == 8


@pytest.mark.parametrize("task", ["tools.api", "features.values", "users.profile", "histories.roleplay"])
def test_crash_mid_stage_repeats_nothing(tmp_path: Path, task: str, finished: Finished) -> None:
    """The server fails the 3rd request of a task (the stage dies); the rerun, with the same
    cache, asks nothing it was already answered, and the records equal an uninterrupted run's."""
    failing = ScriptedLLM(prompt_tokens=100, fail_on=(task, 3))
    stage = task.split(".")[0]
    with pytest.raises(Exception, match="scripted failure"):
        run_front(tmp_path / "pipe", config(), failing.url, tmp_path / "cache.sqlite3", upto=stage)
    assert not (tmp_path / "pipe" / f".done-{stage}").exists()
    failing.fail_on = None
    run_front(tmp_path / "pipe", config(), failing.url, tmp_path / "cache.sqlite3", upto=stage)
    failing.stop()
    upto = list(FRONT)[: list(FRONT).index(stage) + 1]
    assert failing.take() == {t: n for t, n in finished[2].items() if t.split(".")[0] in upto}
    files = [f for s in upto for f in PRODUCES[s]]
    mine, clean = records(tmp_path / "pipe"), records(finished[0])
    assert {f: mine[f] for f in files} == {f: clean[f] for f in files}


# -- rejection paths ----------------------------------------------------------------------------------


def right(task: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The scripted answer without its deliberate faults (as to a second ask)."""
    return scripted.answer(task, {**inputs, "rejected": ["asked again"]})


def test_near_duplicates_merged_and_invalid_specs_rejected(tmp_path: Path) -> None:
    def override(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task != "tools.api":
            return answer
        answer = right(task, inputs)
        if inputs["path"] == ["product orders", "find order"]:  # the same name as createOrder
            return {**answer, "name": "createOrder"}
        if inputs["path"] == ["product search", "find product"]:  # nearly createProduct's words
            return {**answer, "name": "createProducts", "description": "Create products for the user."}
        if inputs["path"] == ["flight bookings", "find flight"]:
            answer["parameters"]["properties"]["destination"]["type"] = "date"
        if inputs["path"] == ["hotel stays", "find hotel room"]:
            answer["parameters"]["properties"]["destination"]["examples"] = ["destination 1", "destination 2",
                                                                             "destination 3"]  # fmt: skip
        return answer

    s = ScriptedLLM(prompt_tokens=100, override=override)
    summary = run_front(tmp_path / "pipe", config(), s.url, tmp_path / "cache.sqlite3", upto="tools")
    asked = s.take()
    s.stop()
    rejected = summary["tools"]["rejected"]
    # each broken spec asked twice (the second ask tells the problem; it stays broken here)
    assert {k: rejected[k] for k in ("near_duplicate", "invalid_api_spec", "bad_examples")} == {
        "near_duplicate": 2, "invalid_api_spec": 2, "bad_examples": 2}  # fmt: skip
    assert asked["tools.api"] == 8 + 2
    apis = PipelineDir(tmp_path / "pipe").read("apis", ApiRecord)
    assert len(apis) == 8 - 4
    assert apis["shopping/createOrder"].merged_from == ["shopping/product orders > find order"]
    assert apis["shopping/createProduct"].merged_from == ["shopping/product search > find product"]
    assert "travel/findFlight" not in apis and "travel/findHotelRoom" not in apis
    drafts = PipelineDir(tmp_path / "pipe").read("api_drafts", DraftRecord)
    assert "type 'date'" in drafts["travel/flight bookings > find flight"].problem
    assert drafts["travel/hotel stays > find hotel room"].reasons == ["bad_examples"]
    chains = PipelineDir(tmp_path / "pipe").read("chains", ChainRecord)
    assert summary["tools"]["accepted"] == 5 + 4 + len(chains)  # platforms + APIs + chains


def test_validate_and_merge_helpers() -> None:
    good = {
        "name": "bookTable",
        "description": "Book a table.",
        "parameters": {
            "type": "object",
            "properties": {
                "restaurant": {"type": "string", "description": "where"},
                "party_size": {"type": "integer", "description": "how many", "enum": [2, 4]},
            },
            "required": ["restaurant"],
        },
    }
    assert validate_function(good) == ""

    def broken(**change: Any) -> str:
        spec = json.loads(json.dumps(good))
        for path, value in change.items():
            *parents, last = path.split("__")
            target = spec
            for part in parents:
                target = target[part]
            target[last] = value
        return validate_function(spec)

    assert "identifier" in broken(name="book table")
    assert "description" in broken(description=" ")
    assert "object" in broken(parameters__type="array")
    assert "type 'array'" in broken(parameters__properties__restaurant__type="array")
    assert "enum" in broken(parameters__properties__party_size__enum=["two"])
    assert "unknown parameters" in broken(parameters__required=["restaurant", "when"])
    assert "two parameters" in broken(parameters__properties={"restaurant": {"type": "string"}})
    twin = {**good, "description": "Book a table!"}
    other = {**good, "name": "cancelTable", "description": "Cancel a booked table at a restaurant."}
    assert similarity(good, twin) == 1.0 and near_duplicate(good, twin)
    assert near_duplicate(good, {**other, "name": "BookTable"})  # same name, any case
    assert not near_duplicate(good, other)
    merged = merge_near_duplicates([("a", good), ("b", other), ("c", twin)])
    assert [(k, folded) for k, _, folded in merged] == [("a", ["c"]), ("b", [])]


@pytest.mark.parametrize(("task", "change", "stage", "reason"), [
    ("histories.roleplay", lambda a: {"records": [{**r, "platform": "Nowhere"} if i == 0 else r
                                                  for i, r in enumerate(a["records"])]}, "histories", "unknown_platform"),
    ("histories.roleplay", lambda a: {"records": [{**r, "action": "Prefers this one"} for r in a["records"]]},
     "histories", "states_preference"),
    ("users.profile", lambda a: {**a, "preferences": {s: {**p, "": "Nowhere"}
                                                      for s, p in a["preferences"].items()}}, "users", "unknown_platform"),
    ("users.profile", lambda a: {**a, "preferences": {s: {"": p[""]} for s, p in a["preferences"].items()}}, "users",
     "incomplete_preferences"),
    ("users.profile", lambda a: {**a, "preferences": {s: dict.fromkeys(p, p[""]) for s, p in a["preferences"].items()}},
     "users", "unconditional_preferences"),
    ("users.profile", lambda a: {**a, "explicit": {"name": a["explicit"]["name"]}}, "users", "incomplete_profile"),
    ("users.profile", lambda a: {**a, "explicit": {**a["explicit"], "phone number": "+1-555-000-0000"}}, "users",
     "duplicate_identity"),
    ("features.values", lambda a: {"values": a["values"][:1]}, "features", "too_few_values"),
    ("features.values", lambda a: {"values": ["dietary needs 1", "dietary needs 2"]}, "features", "placeholder_value"),
    ("tools.platforms", lambda a: {"platforms": [a["platforms"][-1]] * 2}, "tools", "duplicate_platform"),
])  # fmt: skip
def test_rejections_are_counted(tmp_path: Path, task: str, change: Callable[[dict[str, Any]], dict[str, Any]],
                                stage: str, reason: str) -> None:  # fmt: skip
    s = ScriptedLLM(prompt_tokens=100, override=lambda t, inputs, answer: change(answer) if t == task else answer)
    small = config(scenarios=[ScenarioConfig(name="takeout")], tree_depth=1, users_per_layer=[2, 1])
    # tree_depth 1: the categories are the two areas; both platforms can win a condition
    summary = run_front(tmp_path / "pipe", small, s.url, tmp_path / "cache.sqlite3", upto=stage)
    s.stop()
    assert summary[stage]["rejected"].get(reason, 0) >= 1, summary[stage]


def test_invalid_output_is_counted_and_skipped(tmp_path: Path) -> None:
    s = ScriptedLLM(prompt_tokens=100, override=lambda t, inputs, answer: {"nonsense": True} if t == "users.profile" else answer)
    summary = run_front(tmp_path / "pipe", config(), s.url, tmp_path / "cache.sqlite3")
    s.stop()
    assert summary["users"]["rejected"] == {"invalid_output": 4} and summary["users"]["accepted"] == 0
    assert summary["users"]["calls"] == 4 * 3  # each asked again with the error, 3 attempts
    assert summary["histories"]["accepted"] == 0


def test_environment_gives_policies_and_other_scenarios_work(tmp_path: Path, server: ScriptedLLM) -> None:
    cfg = config(environment=True, tree_depth=3, branching=2, users_per_layer=[3, 1, 2], feature_threshold=2,
                 scenarios=[ScenarioConfig(name="food delivery", platforms=3), ScenarioConfig(name="pet care", platforms=1),
                            ScenarioConfig(name="movies", platforms=4)])  # fmt: skip
    summary = run_front(tmp_path / "pipe", cfg, server.url, tmp_path / "cache.sqlite3")
    d = PipelineDir(tmp_path / "pipe")
    assert all(1 <= len(p.policy) <= 3 for p in d.read("platforms", PlatformRecord).values())
    assert summary["tools"]["rejected"]["missing_policy"] == 3  # the scripted answers' candidate without one
    drafts = d.read("api_drafts", DraftRecord)
    apis = d.read("apis", ApiRecord)
    assert len(drafts) == 3 * 8 and not [x for x in drafts.values() if x.problem]  # each fixed on the second ask
    assert len(apis) == 3 * 8 - sum(len(a.merged_from) for a in apis.values()) >= 20
    assert len(d.read("users", UserRecord)) == 6
    assert all(u.preferences["pet care"] == dict.fromkeys(u.preferences["pet care"], u.preferences["pet care"][""])
               for u in d.read("users", UserRecord).values())  # one platform: nothing else to prefer  # fmt: skip
    tree = d.read("features", FeatureRecord).values()
    for kind in ("explicit", "implicit"):
        assert sum(1 for f in tree if f.kind == kind and f.layer == 0) <= 2
    # Every user and scenario gets its 3 records, unless the batch hides the preference (the
    # scripted faults do that for user-005: the whole batch is rejected, counted once).
    histories = summary["histories"]
    assert histories["accepted"] + 3 * histories["rejected"].get("preference_not_revealed", 0) == 6 * 3 * 3
    assert histories["accepted"] == len(d.read("histories", HistoryRecord)) >= 6 * 3 * 3 - 2 * 3


def test_scripted_answers_are_registered() -> None:
    assert {"tools.platforms", "tools.refine", "tools.api", "tools.chains", "features.cluster", "features.values",
            "users.profile", "histories.roleplay"} <= set(scripted.known_tasks())  # fmt: skip


def test_against_the_scripted_mock_server(tmp_path: Path, finished: Finished) -> None:
    """`pertool mock-server --scripted` gives the same records; nothing is asked twice."""
    from pertool.mock_server import MockServer, MockSettings

    mock = MockServer([], MockSettings(scripted=True))
    url = mock.start()
    try:
        run_front(tmp_path / "pipe", config(), url, tmp_path / "cache.sqlite3")
        asked = dict(mock.stats()["requests"])
        for marker in (tmp_path / "pipe").glob(".done-*"):
            marker.unlink()
        run_front(tmp_path / "pipe", config(), url, tmp_path / "cache.sqlite3")
        again = dict(mock.stats()["requests"])
    finally:
        mock.stop()
    assert records(tmp_path / "pipe") == records(finished[0])
    assert sum(asked.values()) == sum(finished[2].values()) and set(asked.values()) == {1}
    assert again == asked
