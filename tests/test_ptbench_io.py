import json

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.ptbench import load_ptbench, write_ptbench
from pertool.errors import DataError, SpecError
from pertool.kinds import load_benchmark
from pertool.schema import Sample


def test_loads_a_directory_with_both_splits(tmp_path):
    write_split_dir(tmp_path, [record(), record(platform="Other")], [record()])
    samples = load_ptbench(tmp_path)
    assert [s.id for s in samples] == ["trained:0", "trained:1", "untrained:0"]
    first = samples[0]
    assert first.gold_platform == "MegaMart"
    assert first.gold_calls[0].arguments["quantity"] == [2]
    assert first.gold_calls[0].sources == {"productName": "query", "quantity": "query", "address": "profile"}
    assert first.user_id == "ann"
    assert first.tools[0].name == "placeOrder"


def test_loads_a_single_file_and_names_the_split_from_its_directory(tmp_path):
    write_split_dir(tmp_path, [], [record(), record()])
    samples = load_ptbench(tmp_path / "test_untrained_user" / "data.json")
    assert [s.id for s in samples] == ["untrained:0", "untrained:1"]


def test_write_then_load_is_identity_and_files_match(tmp_path):
    odd = record(query_params=["productName", "notInGold"], profile_params=[])
    odd["extra_field"] = {"kept": True}
    src = write_split_dir(tmp_path / "src", [record(), odd], [record()])
    samples = load_ptbench(src)
    write_ptbench(samples, tmp_path / "out")
    assert load_ptbench(tmp_path / "out") == samples
    for d in ("test_trained_user", "test_untrained_user"):
        original = json.loads((src / d / "data.json").read_text())
        written = json.loads((tmp_path / "out" / d / "data.json").read_text())
        assert written == original


def test_sample_json_round_trip_is_lossless(tmp_path):
    write_split_dir(tmp_path, [record()], [])
    sample = load_ptbench(tmp_path)[0]
    assert Sample.model_validate_json(sample.model_dump_json()) == sample


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("answer"), "answer"),
        (lambda r: r.update(query=5), "query"),
        (lambda r: r.update(answer=["P"]), "answer"),
        (lambda r: r.update(answer=[1, []]), "answer[0]"),
        (lambda r: r["answer"][1].append({"a": {}, "b": {}}), "answer[1][1]"),
        (lambda r: r["answer"][1][0]["placeOrder"].update(quantity=2), "answer[1][0].placeOrder.quantity"),
        (lambda r: r.update(tools=[{"type": "function", "function": {"description": "no name"}}]), "tools[0].function.name"),
        (lambda r: r.update(platforms={}), "platforms"),
        (lambda r: r.update(query_params=[1]), "query_params[0]"),
        (lambda r: r.update(user_profile={"basic_features": []}), "user_profile.basic_features"),
    ],
)
def test_malformed_input_names_file_index_and_field(tmp_path, mutate, field):
    bad = record()
    mutate(bad)
    write_split_dir(tmp_path, [record(), record(), bad], [])
    with pytest.raises(DataError) as info:
        load_ptbench(tmp_path)
    err = info.value
    assert err.index == 2 and err.field == field
    assert "test_trained_user/data.json" in str(err) and "sample 2" in str(err)


def test_not_json_and_not_a_list(tmp_path):
    (tmp_path / "test_trained_user").mkdir()
    f = tmp_path / "test_trained_user" / "data.json"
    f.write_text("[{")
    with pytest.raises(DataError, match="not valid JSON"):
        load_ptbench(tmp_path)
    f.write_text("{}")
    with pytest.raises(DataError, match="JSON list"):
        load_ptbench(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load_ptbench(tmp_path / "missing")
    with pytest.raises(DataError, match="test_trained_user"):
        load_ptbench(tmp_path / "test_trained_user")  # a dir without data.json under split dirs


def test_specs():
    assert len(load_benchmark("example")) == 8
    with pytest.raises(SpecError, match="pertool data download ptbench"):
        load_benchmark("ptbench")
    with pytest.raises(SpecError, match="unknown benchmark"):
        load_benchmark("nope")
