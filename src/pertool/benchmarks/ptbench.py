"""PTBench's own format: `test_trained_user/data.json` and `test_untrained_user/data.json`.

Each file is a JSON list of samples with `user_profile`, `platforms`, `tools`, `query`,
`answer` = `[platform, [{function: {param: [accepted values]}}, ...]]`, `query_params` and
`profile_params`. Sample ids are `<split>:<index>`, the index 0-based within the split's file.
Loading is all or nothing: the first malformed field raises a `DataError` naming the file, the
sample index and the field.

Loading is about as fast as decoding the JSON: the same tool, platform and profile records repeat
across samples (every sample of a scenario offers the same tools), so each distinct record is
validated once and the samples share its model (`_Validated`), and the cyclic garbage collector
waits until the samples are built (`pertool.collector.collector_paused`).
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pertool.collector import collector_paused
from pertool.errors import DataError
from pertool.fileio import atomic_write_text, read_json
from pertool.schema import GoldCall, Platform, Profile, Provenance, Sample, Tool

__all__ = ["SPLIT_DIRS", "load_ptbench", "load_ptbench_file", "write_ptbench", "to_record"]

BENCHMARK = "ptbench"
SPLIT_DIRS = {"trained": "test_trained_user", "untrained": "test_untrained_user"}
_KNOWN = ("user_profile", "platforms", "tools", "query", "answer", "query_params", "profile_params")
_USER_KEYS = ("username", "user_name", "name", "user_id")


def load_ptbench(path: str | Path) -> list[Sample]:
    """Load a `data.json` file, or a directory holding one or both split directories."""
    path = Path(path)
    if path.exists() and not path.is_dir():  # a FIFO or device is refused when read
        return load_ptbench_file(path, _split_of(path))
    if not path.is_dir():
        raise DataError(str(path), "no such file or directory")
    found = [(s, path / d / "data.json") for s, d in SPLIT_DIRS.items()]
    found = [(s, f) for s, f in found if f.is_file()]
    if not found:
        raise DataError(str(path), "expected test_trained_user/data.json and/or "
                        "test_untrained_user/data.json in this directory")
    return [sample for split, file in found for sample in load_ptbench_file(file, split)]


def _split_of(file: Path) -> str:
    for split, dirname in SPLIT_DIRS.items():
        if file.parent.name == dirname:
            return split
    return "test"


def load_ptbench_file(file: Path, split: str) -> list[Sample]:
    with collector_paused():
        records = read_json(file)
        if not isinstance(records, list):
            raise DataError(str(file), f"expected a JSON list of samples, got {type(records).__name__}")
        validated = _Validated()
        return [_sample(record, str(file), split, i, validated) for i, record in enumerate(records)]


class _Validated:
    """Models of the records seen so far, by content: a record equal to an earlier one gets the
    earlier one's model (shared between samples; nothing in pertool changes a loaded model in
    place, and the built-in generator shares them too). The key is `marshal.dumps` of the JSON
    value: bytes that load back to exactly that value (types, key order and all), so equal keys
    mean equal input and so an equal model; it costs a tenth of validating the record."""

    def __init__(self) -> None:
        self._models: dict[tuple[type[BaseModel], bytes], Any] = {}

    def __call__(self, model: type[BaseModel], value: Any, fail: Any, field: str) -> Any:
        try:
            key = (model, marshal.dumps(value))
        except (ValueError, RecursionError):  # nested too deeply to marshal: validate it alone
            return _validate(model, value, fail, field)
        found = self._models.get(key)
        if found is None:  # not seen yet; an invalid record raises here, at its first sample
            found = self._models[key] = _validate(model, value, fail, field)
        return found


def _sample(record: Any, file: str, split: str, index: int, validated: _Validated) -> Sample:
    def fail(field: str, message: str) -> DataError:
        return DataError(file, message, index=index, field=field)

    if not isinstance(record, dict):
        raise fail("", f"expected an object, got {type(record).__name__}")
    for key in _KNOWN:
        if key not in record:
            raise fail(key, "missing")
    if not isinstance(record["query"], str):
        raise fail("query", "expected a string")
    lists = {key: _names(record[key], fail, key) for key in ("query_params", "profile_params")}
    profile = validated(Profile, record["user_profile"], fail, "user_profile")
    platforms = [validated(Platform, p, fail, f"platforms[{i}]")
                 for i, p in enumerate(_list(record["platforms"], fail, "platforms"))]
    tools = [validated(Tool, t, fail, f"tools[{i}]")
             for i, t in enumerate(_list(record["tools"], fail, "tools"))]
    platform, calls = _answer(record["answer"], fail, lists)
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    extra.update(lists)
    return Sample(
        id=f"{split}:{index}", benchmark=BENCHMARK, split=split, user_id=_user_id(profile),
        query=record["query"], profile=profile, platforms=platforms, tools=tools,
        gold_platform=platform, gold_calls=calls, extra=extra,
    )  # fmt: skip


def _validate(model: type[BaseModel], value: Any, fail: Any, field: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([field, *(str(p) for p in first["loc"])])
        raise fail(where, first["msg"]) from None


def _list(value: Any, fail: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(field, f"expected a list, got {type(value).__name__}")
    return value


def _names(value: Any, fail: Any, field: str) -> list[str]:
    for i, item in enumerate(_list(value, fail, field)):
        if not isinstance(item, str):
            raise fail(f"{field}[{i}]", f"expected a parameter name, got {item!r}")
    return list(value)


def _answer(value: Any, fail: Any, lists: dict[str, list[str]]) -> tuple[str, list[GoldCall]]:
    if not (isinstance(value, list) and len(value) == 2):
        raise fail("answer", "expected [platform, [calls]]")
    platform, raw_calls = value
    if not isinstance(platform, str):
        raise fail("answer[0]", "expected the platform name as a string")
    calls = []
    for i, raw in enumerate(_list(raw_calls, fail, "answer[1]")):
        if not (isinstance(raw, dict) and len(raw) == 1):
            raise fail(f"answer[1][{i}]", "expected one {function_name: {param: [values]}} object")
        (name, args), = raw.items()
        if not isinstance(args, dict):
            raise fail(f"answer[1][{i}].{name}", "expected an object of parameters")
        for param, accepted in args.items():
            if not isinstance(accepted, list):
                raise fail(f"answer[1][{i}].{name}.{param}",
                           f"expected a list of accepted values, got {json.dumps(accepted)[:60]}")
        calls.append(GoldCall(name=name, arguments=args, sources=_sources(args, lists)))
    return platform, calls


def _sources(args: dict[str, Any], lists: dict[str, list[str]]) -> dict[str, Provenance]:
    sources: dict[str, Provenance] = {}
    for param in args:
        if param in lists["query_params"]:  # as the public scripts: query wins over profile
            sources[param] = "query"
        elif param in lists["profile_params"]:
            sources[param] = "profile"
    return sources


def _user_id(profile: Profile) -> str | None:
    for key in _USER_KEYS:
        value = profile.basic_features.get(key)
        if isinstance(value, (str, int)):
            return str(value)
    return None


# --- writing --------------------------------------------------------------------------------


def to_record(sample: Sample, memo: dict[int, Any] | None = None) -> dict[str, Any]:
    """A sample as a PTBench JSON record (the inverse of loading). `memo` reuses the dumps of
    profiles, platforms and tools that samples share (generated datasets share them)."""
    memo = {} if memo is None else memo

    def dump(obj: Any) -> Any:
        if id(obj) not in memo:
            memo[id(obj)] = (obj, obj.model_dump(mode="json", exclude_unset=True))  # keep obj alive
        return memo[id(obj)][1]

    derived = {
        key: list(dict.fromkeys(p for g in sample.gold_calls for p, s in g.sources.items()
                                if s == source))
        for key, source in (("query_params", "query"), ("profile_params", "profile"))
    }  # fmt: skip
    return {
        "user_profile": dump(sample.profile),
        "platforms": [dump(p) for p in sample.platforms],
        "tools": [dump(t) for t in sample.tools],
        "query": sample.query,
        "answer": [sample.gold_platform, [{g.name: g.arguments} for g in sample.gold_calls]],
        "query_params": sample.extra.get("query_params", derived["query_params"]),
        "profile_params": sample.extra.get("profile_params", derived["profile_params"]),
        **{k: v for k, v in sample.extra.items() if k not in _KNOWN},
    }


def write_ptbench(samples: Iterable[Sample], out_dir: str | Path) -> list[Path]:
    """Write samples as `<out_dir>/test_<split>_user/data.json`, one file per split."""
    by_split: dict[str, list[dict[str, Any]]] = {}
    memo: dict[int, Any] = {}
    for sample in samples:
        by_split.setdefault(sample.split, []).append(to_record(sample, memo))
    written = []
    for split, records in by_split.items():
        path = Path(out_dir) / SPLIT_DIRS.get(split, f"test_{split}_user") / "data.json"
        atomic_write_text(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        written.append(path)
    return written
