"""Fast PTBench loading: each distinct tool, platform and profile record is validated once and
shared. The samples must equal a plain pydantic validation of every record, extra fields and
their order included; benchmarks/load_speed.py must print its figures."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.ptbench import _Validated, load_ptbench
from pertool.errors import DataError
from pertool.schema import Sample, Tool

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "load_speed.py"


def _tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": f"{name} tool", "response": {"type": "object"},
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
        **extra}  # fmt: skip


def _records() -> list[dict[str, Any]]:
    """Records that share some tools, platforms and profiles (equal content, separate objects
    once decoded) and differ in others: extra fields, key order, a string platform profile."""
    shared = [_tool("search"), _tool("placeOrder", x_vendor={"v": 1})]
    out = []
    for i in range(6):
        rec = record(platform="MegaMart" if i % 2 else "Other")
        rec["tools"] = copy.deepcopy(shared) + rec["tools"]
        if i == 3:  # the same tool with its parameters' keys in another order: kept in that order
            params = rec["tools"][0]["function"]["parameters"]
            rec["tools"][0]["function"]["parameters"] = dict(reversed(list(params.items())))
        if i == 4:  # a distinct tool, and extra fields on the platform and the profile
            rec["tools"].append(_tool("cancel", flag=True, count=2, ratio=2.0))
            rec["platforms"][1] = {"name": "Other", "profile": "a plain text profile", "tier": 1}
            rec["user_profile"]["vip"] = True
        if i == 5:  # values equal in Python but not in type: 1 and True, 2 and 2.0
            rec["tools"].append(_tool("cancel", flag=1, count=2.0, ratio=2))
        rec["source_note"] = f"note {i}"
        out.append(rec)
    return out


def _plainly_validated(rec: dict[str, Any], split: str, index: int) -> Sample:
    """What the loader must give: the whole sample validated by pydantic from the raw record."""
    platform, calls = rec["answer"]
    lists = {k: rec[k] for k in ("query_params", "profile_params")}
    gold = [{"name": name, "arguments": args,
             "sources": {p: "query" if p in lists["query_params"] else "profile"
                         for p in args if p in lists["query_params"] + lists["profile_params"]}}
            for call in calls for name, args in call.items()]  # fmt: skip
    return Sample.model_validate({
        "id": f"{split}:{index}", "benchmark": "ptbench", "split": split,
        "user_id": rec["user_profile"]["basic_features"]["username"], "query": rec["query"],
        "profile": rec["user_profile"], "platforms": rec["platforms"], "tools": rec["tools"],
        "gold_platform": platform, "gold_calls": gold,
        "extra": {"source_note": rec["source_note"], **lists},
    })  # fmt: skip


def test_samples_equal_a_plain_validation_of_every_record(tmp_path):
    records = _records()
    write_split_dir(tmp_path, records, records[:2])
    samples = load_ptbench(tmp_path)
    expected = [_plainly_validated(r, "trained", i) for i, r in enumerate(records)]
    expected += [_plainly_validated(r, "untrained", i) for i, r in enumerate(records[:2])]
    assert samples == expected
    for got, want in zip(samples, expected):  # order, types and set fields too (export uses them)
        assert got.model_dump_json() == want.model_dump_json()
        assert got.model_dump_json(exclude_unset=True) == want.model_dump_json(exclude_unset=True)
        assert got.model_fields_set == want.model_fields_set
    cancel_bool, cancel_int = samples[4].tools[-1], samples[5].tools[-1]
    assert cancel_bool.model_extra == {"flag": True, "count": 2, "ratio": 2.0}
    assert [type(v) for v in cancel_int.model_extra.values()] == [int, float, int]
    assert list(samples[3].tools[0].function.parameters) == ["required", "properties", "type"]


def test_equal_records_share_one_model_and_distinct_ones_do_not(tmp_path):
    write_split_dir(tmp_path, _records(), [])
    samples = load_ptbench(tmp_path)
    assert samples[0].tools[0] is samples[1].tools[0] is samples[5].tools[0]
    assert samples[3].tools[0] is not samples[0].tools[0]  # parameters in another order
    assert samples[4].tools[-1] is not samples[5].tools[-1]
    assert samples[0].profile is samples[2].profile
    assert samples[4].profile is not samples[2].profile


def test_an_invalid_record_repeated_is_named_at_its_first_sample(tmp_path):
    records = _records()
    for i in (2, 4):
        records[i]["tools"][1]["function"] = {"description": "no name"}
    write_split_dir(tmp_path, records, [])
    with pytest.raises(DataError) as err:
        load_ptbench(tmp_path)
    message = str(err.value)
    assert message.endswith("test_trained_user/data.json, sample 2, field tools[1].function.name: "
                            "Field required"), message


def test_a_record_too_deep_to_key_is_validated_alone():
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(2100):  # past marshal's nesting limit (JSON decoding stops earlier)
        inner["x"] = {}
        inner = inner["x"]
    tool = _tool("deep")
    tool["function"]["parameters"]["properties"]["q"] = deep
    validated = _Validated()
    first = validated(Tool, tool, lambda field, message: DataError("f", message), "tools[0]")
    again = validated(Tool, tool, lambda field, message: DataError("f", message), "tools[0]")
    assert first == again == Tool.model_validate(tool) and first is not again


def test_the_script_prints_both_times_and_the_ratio(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--work", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"set: 300 samples \(1 copies\)", out), out
    assert re.search(r"json\.load: +\d+\.\d\d s wall +\d+\.\d\d s CPU", out), out
    assert re.search(r"pertool score: +\d+\.\d\d s wall +\d+\.\d\d s CPU +\(overall accuracy 0\.\d{3}\)", out), out
    assert re.search(r"in process: +load \d+\.\d\d s CPU, read predictions \+ score \d+\.\d\d s CPU", out), out
    assert re.search(r"ratio \(CPU\): +\d+\.\d\d +target <= 2\.0", out), out
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    outputs = [json.loads(line)["output"] for line in lines]
    assert len(outputs) == 300 and any(o.startswith("I would pick") for o in outputs)
