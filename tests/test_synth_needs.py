"""A stated need is phrased, not quoted (stages/needs.py), and query values stay within their
enum: the user agent's rules (queries.query_problem) and the scripted agents on small records."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from pertool.synth import scripted, stats
from pertool.synth.records import ApiRecord, PlatformRecord, UserRecord
from pertool.synth.stages.needs import PHRASINGS, phrasings, stated_phrasing
from pertool.synth.stages.queries import (
    Plan,
    QueryOutput,
    is_placeholder,
    mentions,
    query_problem,
    write_inputs,
)

ALL_VALUES = {v for rows in PHRASINGS.values() for values, _ in rows for v in values}
PLATFORMS = [PlatformRecord(key=f"travel/{name}", scenario="travel", name=name, characteristics=traits)
             for name, traits in (("TripHub", {"price level": "low", "speed": "slow"}),
                                  ("JetNest", {"price level": "high", "speed": "fast"}))]  # fmt: skip
API = ApiRecord(key="travel/findFlight", scenario="travel", path=["flights", "find flight"], function={
    "name": "findFlight", "description": "Find a flight.", "parameters": {"type": "object", "properties": {
        "destination": {"type": "string", "x-source": "query", "examples": ["Lisbon", "Kyoto", "Prague"]},
        "cabin_class": {"type": "string", "x-source": "query", "examples": ["economy", "business"],
                        "enum": ["economy", "business"]}},
        "required": ["destination", "cabin_class"]}})  # fmt: skip
USER = UserRecord(key="ana", explicit={"name": "Ana Ruiz"}, implicit={},
                  preferences={"travel": {"flights": "TripHub", "": "TripHub"}})


def plan(need: dict[str, str] | None = None) -> Plan:
    state = {p: dict(s) for p, s in API.function["parameters"]["properties"].items()}
    return Plan("ana/0", 0, USER, "travel", [API], "flights", PLATFORMS[1], need, state,
                ["destination", "cabin_class"], ["JetNest", "TripHub"])


def test_declared_phrasings_never_say_a_characteristic_value():
    for kind, rows in PHRASINGS.items():
        for values, said in rows:
            assert len(said) >= 2 and phrasings(f"{kind} level", values[0]) == list(said)
            for text in said:
                assert not any(mentions(v, text) for v in ALL_VALUES), (kind, text)
                others = [p for _, s in (r for rows_ in PHRASINGS.values() for r in rows_) for p in s if p != text]
                assert not any(text.casefold() in o.casefold() for o in others), text  # never ambiguous


def test_unknown_characteristics_are_stated_verbatim_and_values_get_synonyms():
    assert phrasings("delivery time", "under 20 minutes") == ["delivery time should be under 20 minutes"]
    assert phrasings("catalogue", "huge") == ["catalogue should be huge"]
    assert phrasings("Price Level", " Budget ") == phrasings("price", "low")  # kind by word, value by synonym
    assert stated_phrasing(phrasings("speed", "fast"), "Book it.  The SOONER the better!") == "the sooner the better"
    assert stated_phrasing(phrasings("speed", "fast"), "Book it; speed should be fast.") is None


@pytest.mark.parametrize(("values", "text", "reason"), [
    ({"destination": "Kyoto", "cabin_class": "business"}, 'Find a flight to "Kyoto", business, {need}.', None),
    ({"destination": "Kyoto", "cabin_class": "Business"}, 'Find a flight to "Kyoto", Business, {need}.',
     "invalid_value"),  # outside the enum (letters count)
    ({"destination": "Kyoto", "cabin_class": "business plus"}, "Kyoto, business plus, {need}.", "invalid_value"),
    ({"destination": "Kyoto", "cabin_class": "economy"}, "Kyoto in economy; speed should be fast.",
     "need_not_stated"),  # the characteristic quoted, not phrased
])  # fmt: skip
def test_the_user_agent_rules_check_enums_and_phrased_needs(values, text, reason):
    need = {"characteristic": "speed", "value": "fast"}
    assert query_problem(plan(need), text.format(need="I'm in a hurry"), values, []) == reason


def test_the_scripted_agents_phrase_a_need_and_read_it_back():
    need = {"characteristic": "speed", "value": "fast"}
    texts = set()
    for index in range(12):
        inputs = write_inputs(plan(need), [])
        inputs.update(user=f"ana{index}", index=index)
        out = scripted.answer("queries.write", inputs)
        assert out["values"]["cabin_class"] in ("economy", "business")
        assert not mentions("fast", out["query"]) and stated_phrasing(phrasings("speed", "fast"), out["query"])
        texts.add(out["query"])
        solve = {"sample": f"ana/{index}", "query": out["query"], "platforms": [
            {"name": p.name, "characteristics": p.characteristics, "policy": []}
            for p in random.Random(index).sample(PLATFORMS, 2)],
            "tools": [API.function], "categories": {"findFlight": "flights"}, "profile": USER.explicit,
            "preferences": USER.preferences["travel"], "history": [], "environment": None}  # fmt: skip
        assert scripted.answer("solutions.solve", solve)["platform"] == "JetNest"  # the need, not the preference
    assert len(texts) >= 4  # a few ways, not one sentence


@pytest.mark.parametrize(("values", "text", "reason"), [
    ({"destination": "Kyoto", "cabin_class": "business"}, "Find a flight to Kyoto in business on JetNest.",
     "names_platform"),  # the choice is the assistant's
    ({"destination": "Kyoto", "cabin_class": "business"}, "Find a flight to Kyoto in business, tripHub style.",
     "names_platform"),  # any platform, in any letters
    ({"destination": "Destination 12", "cabin_class": "business"}, "Destination 12, business.", "placeholder_value"),
    ({"destination": "Destination_3", "cabin_class": "business"}, "Destination_3, business.", "placeholder_value"),
    ({"destination": "Dest 3", "cabin_class": "business"}, "Dest 3, business.", "placeholder_value"),
])  # fmt: skip
def test_the_user_agent_rules_reject_named_platforms_and_placeholders(values, text, reason):
    assert query_problem(plan(), text, values, []) == reason


def test_one_placeholder_rule_for_the_queries_stage_and_stats():
    for param, value in (("restaurant_name", "Restaurant 12"), ("dish_name", "dish 3"), ("item", "Item_3"),
                         ("cuisine", "cuisine_51"), ("cabin_class", "Class 2"), ("contact_number", "CON-38631"),
                         ("note", "<your note>"), ("note", "TBD")):  # fmt: skip
        assert is_placeholder(value, param, {}), (param, value)
        assert not is_placeholder(value, param, {"examples": [value, "x", "y"]})  # a declared example is one
    for param, value in (("cuisine", "Thai"), ("departure_date", "2025-03-14"), ("party_size", 4),
                         ("title", "Neon Tide"), ("contact_number", "+1-555-210-4471")):  # fmt: skip
        assert not is_placeholder(value, param, {}), (param, value)
    assert stats.is_placeholder is is_placeholder


def test_a_blank_query_is_no_valid_answer():
    for text in ("   ", "\n\t", ""):
        with pytest.raises(ValidationError):
            QueryOutput.model_validate({"query": text, "values": {}})
    assert QueryOutput.model_validate({"query": "¿Vuelo a Kioto?"}).query
