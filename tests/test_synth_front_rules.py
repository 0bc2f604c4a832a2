"""The rules of PTool's front stages (tools, features, users): each on its own, and all of them
rejecting at least one of the scripted server's deliberately wrong answers in an offline run of a
10-user config, while most answers pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pertool.synth.records import ApiRecord, FeatureRecord, ScenarioConfig, UserRecord
from pertool.synth.stages.features import MAX_UNION
from pertool.synth.stages.tools import (
    ApiOut,
    ChainOut,
    DraftRecord,
    chain_problems,
    function_of,
    is_placeholder,
    source_problems,
)
from pertool.synth.stages.users import preference_problems
from pertool.synth.store import PipelineDir
from support.scripted_llm import ScriptedLLM
from test_synth_front import config, run_front

# Every rule of the three stages that a non-environment run can break ("missing_policy" needs
# the environment mode: test_synth_front's environment test covers it).
REASONS = {
    "tools": {"invalid_platform", "invalid_characteristics", "duplicate_platform", "missing_source", "bad_examples",
              "raw_feature_name", "invalid_api_spec", "near_duplicate", "unknown_api", "no_shared_parameter",
              "duplicate_chain"},
    "features": {"wrong_kind", "unknown_member", "unclustered_leaf", "unclustered_node", "cluster_no_progress",
                 "too_few_values", "placeholder_value"},
    "users": {"incomplete_profile", "unknown_platform", "incomplete_preferences", "unconditional_preferences",
              "duplicate_identity"},
}  # fmt: skip


def spec(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"name": "orderMeal", "description": "Order a meal.",
            "parameters": {"type": "object", "properties": properties, "required": []}}  # fmt: skip


DISH = {"type": "string", "x-source": "query", "examples": ["pad thai", "ramen bowl", "falafel wrap"]}
PHONE = {"type": "string", "x-source": "profile:phone number", "examples": ["+1-555-210-4471", "+1-555-318-9025",
                                                                            "+1-555-402-1187"]}  # fmt: skip


def test_source_and_example_rules() -> None:
    assert source_problems(spec(dish=DISH, contact_number=PHONE)) == []

    def reasons(**properties: dict[str, Any]) -> list[str]:
        return [r for r, _ in source_problems(spec(**properties))]

    assert reasons(dish={**DISH, "x-source": ""}, contact_number=PHONE) == ["missing_source"]
    assert reasons(dish={**DISH, "x-source": "profile"}, contact_number=PHONE) == ["missing_source"]
    assert reasons(dish=DISH, contact_number={**PHONE, "x-source": "environment:Weather"}) == ["missing_source"]
    assert source_problems(spec(dish=DISH, phone={**PHONE, "x-source": "environment:Weather"}), environment=True) == [
        ("invalid_api_spec", "needs at least one query and one profile parameter")]  # fmt: skip
    assert reasons(dish=DISH, contact_number={**PHONE, "x-source": "profile:contact_number"}) == ["raw_feature_name"]
    assert reasons(dish=DISH, contact_number={**PHONE, "x-source": "profile:phoneNumber"}) == ["raw_feature_name"]
    assert reasons(dish={**DISH, "examples": ["pad thai", "ramen bowl"]}, contact_number=PHONE) == ["bad_examples"]
    assert reasons(dish={**DISH, "examples": ["dish 1", "dish 2", "dish 3"]}, contact_number=PHONE) == [
        "bad_examples"]  # fmt: skip
    assert reasons(dish={**DISH, "examples": ["pad thai", "Pad Thai", "ramen"]}, contact_number=PHONE) == [
        "bad_examples"]  # fmt: skip
    assert reasons(dish={**DISH, "enum": ["pad thai"]}, contact_number=PHONE) == ["bad_examples"]
    assert reasons(dish=DISH, party={"type": "integer", "x-source": "query", "examples": [1, "2", 3]},
                   contact_number=PHONE) == ["bad_examples"]  # fmt: skip
    assert reasons(dish=DISH, vegan={"type": "boolean", "x-source": "query", "examples": [True, False]},
                   contact_number=PHONE) == []  # fmt: skip
    assert reasons(dish=DISH, other=DISH) == ["invalid_api_spec"]  # no profile parameter


def test_placeholders() -> None:
    for param, value in (("cuisine", "cuisine 51"), ("cabin_class", "cabin class 67"),
                         ("contact_number", "CON-38631"), ("item", "Item_3")):  # fmt: skip
        assert is_placeholder(param, value), (param, value)
    for param, value in (("cuisine", "Thai"), ("contact_number", "+1-555-210-4471"), ("date", "2025-03-14"),
                         ("address", "12 Maple Row, Northvale"), ("party_size", 4), ("size", "2")):  # fmt: skip
        assert not is_placeholder(param, value), (param, value)


def api(name: str, *query: str) -> ApiRecord:
    properties = {p: {"type": "string", "x-source": "query"} for p in query}
    properties["phone"] = {"type": "string", "x-source": "profile:phone number"}
    return ApiRecord(key=f"takeout/{name}", scenario="takeout", path=["meal orders", name],
                     function={"name": name, "parameters": {"properties": properties}})  # fmt: skip


def test_chain_rules() -> None:
    apis = {a.function["name"]: a for a in (api("findMeal", "dish", "cuisine"), api("orderMeal", "dish", "quantity"))}
    seen: set[tuple[str, str]] = set()
    assert chain_problems(ChainOut(first="findMeal", second="orderMeal", shared=["dish"]), apis, seen) == []
    seen.add(("takeout/findMeal", "takeout/orderMeal"))

    def reason(first: str, second: str, shared: list[str]) -> str:
        return chain_problems(ChainOut(first=first, second=second, shared=shared), apis, seen)[0][0]

    assert reason("findMeal", "orderMeal", ["dish"]) == "duplicate_chain"
    assert reason("findMeal", "payMeal", ["dish"]) == "unknown_api"
    assert reason("findMeal", "findMeal", ["dish"]) == "unknown_api"
    assert reason("orderMeal", "findMeal", []) == "no_shared_parameter"
    assert reason("orderMeal", "findMeal", ["quantity"]) == "no_shared_parameter"  # not a parameter of both
    assert reason("orderMeal", "findMeal", ["phone"]) == "no_shared_parameter"  # a profile parameter


def test_preference_rules() -> None:
    scenarios = {"takeout": {"platforms": [{"name": "A"}, {"name": "B"}], "categories": ["meal orders", "reviews"]}}
    good = {"takeout": {"meal orders": "A", "reviews": "B", "": "A"}}
    assert preference_problems(good, scenarios) == []

    def reasons(prefs: dict[str, str]) -> list[str]:
        return [r for r, _ in preference_problems({"takeout": prefs}, scenarios)]

    assert reasons({"meal orders": "A", "reviews": "C", "": "A"}) == ["unknown_platform"]
    assert reasons({"meal orders": "A", "": "B"}) == ["incomplete_preferences"]
    assert reasons({"meal orders": "A", "reviews": "B"}) == ["incomplete_preferences"]
    assert reasons({"meal orders": "B", "reviews": "B", "": "B"}) == ["unconditional_preferences"]
    assert [r for r, _ in preference_problems({}, scenarios)] == ["incomplete_preferences"]
    one = {"takeout": {"platforms": [{"name": "A"}], "categories": ["meal orders", "reviews"]}}
    assert preference_problems({"takeout": {"meal orders": "A", "reviews": "A", "": "A"}}, one) == []


def test_every_front_rule_rejects_a_scripted_answer(tmp_path: Path) -> None:
    """An offline run of 10 users: each rule of the tools, features and users stages rejects at
    least one of the scripted server's answers, most answers pass, and the records are whole."""
    cfg = config(scenarios=[ScenarioConfig(name="shopping", platforms=2), ScenarioConfig(name="food delivery", platforms=3),
                            ScenarioConfig(name="entertainment", platforms=2)],
                 tree_depth=3, branching=3, feature_threshold=3, users_per_layer=[2, 5])  # fmt: skip
    server = ScriptedLLM(prompt_tokens=10)
    try:
        run_front(tmp_path / "pipe", cfg, server.url, tmp_path / "cache.sqlite3", upto="users")
        asked = server.take()
    finally:
        server.stop()
    summary = json.loads((tmp_path / "pipe" / "summary.json").read_text())
    for stage, reasons in REASONS.items():
        fired = {r for r, n in summary[stage]["rejected"].items() if n >= 1}
        assert reasons <= fired, (stage, sorted(reasons - fired))
        assert fired <= reasons, (stage, sorted(fired - reasons))  # nothing the scripted answers should pass
    d = PipelineDir(tmp_path / "pipe")
    assert len(d.read("users", UserRecord)) == 10  # every wrong profile was answered right on the second ask
    apis = d.read("apis", ApiRecord)
    assert len(apis) >= 0.85 * len(d.read("api_drafts", DraftRecord))
    wrong = sum(n for stage in REASONS for n in summary[stage]["rejected"].values())
    assert wrong <= 0.2 * sum(asked.values()), (wrong, asked)
    assert all(f.values for f in d.read("features", FeatureRecord).values())


def test_feature_names_are_normalized_not_rejected() -> None:
    """A profile feature named by what it is, in any letters or script, is kept in lower case; a
    parameter-like name (snake_case, camelCase) is still rejected."""
    for written, kept in (("Home Address", "home address"), ("ZIP code", "zip code"),
                          ("Número de  teléfono", "número de teléfono"), ("address line 2", "address line 2")):  # fmt: skip
        assert source_problems(spec(dish=DISH, contact=dict(PHONE, **{"x-source": f"profile:{written}"}))) == []
        out = ApiOut.model_validate({"name": "orderMeal", "description": "Order a meal.", "parameters": {
            "type": "object", "required": [], "properties": {
                "contact": {"type": "string", "description": "Phone", "source": f"profile:{written}",
                            "examples": PHONE["examples"]}}}})  # fmt: skip
        assert function_of(out)["parameters"]["properties"]["contact"]["x-source"] == f"profile:{kept}"
    for raw in ("contact_number", "phoneNumber", "user phone_2"):
        assert [r for r, _ in source_problems(spec(dish=DISH, contact=dict(PHONE, **{"x-source": f"profile:{raw}"})))] == [
            "raw_feature_name"], raw  # fmt: skip


def test_feature_values_stay_capped_down_the_tree(tmp_path: Path) -> None:
    """However many values each answer gives per parent value, a feature keeps at most
    MAX_UNION, and so asks at most MAX_UNION times (one per parent value)."""
    words = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heath"]

    def many(task: str, inputs: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if task == "features.values":
            answer["values"] = [f"{inputs.get('parent_value') or 'plain'} {w}" for w in words]
        return answer

    server = ScriptedLLM(override=many)
    try:
        run_front(tmp_path / "pipe", config(), server.url, tmp_path / "cache.sqlite3", upto="features")
        asked = server.take()
    finally:
        server.stop()
    features = PipelineDir(tmp_path / "pipe").read("features", FeatureRecord).values()
    assert any(f.values_by_parent for f in features)
    deep = [f for f in features if f.values_by_parent and any(g.name == f.parent and g.values_by_parent
                                                              for g in features)]  # fmt: skip
    assert deep  # a grandchild: its parent's values were themselves capped
    for feature in features:
        assert len(feature.values) <= MAX_UNION, feature.name
        assert len(feature.values_by_parent) <= MAX_UNION
        assert all(set(v) <= set(feature.values) for v in feature.values_by_parent.values())
    assert asked["features.values"] <= MAX_UNION * len(features)
