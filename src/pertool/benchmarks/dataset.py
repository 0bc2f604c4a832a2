"""The `dataset:DIR` format: reading and writing datasets in the pertool format (what `pertool
generate` and `pertool synth` write), and writing them in the PTBench format.

The pertool format stores what samples share once (normalised, so 8k samples stay small and
load fast):

    manifest.json      generator version, settings, counts, rejections per rule
    scenarios.json     per scenario: platforms and tool specs (and, when its samples show only
                       their scenario's part of the profile, `profile_features`: the basic
                       features shown; the history shown is then the scenario's)
    users.json         per user id: the profile (basic features + history)
    train.jsonl        one sample per line: id, split, user_id, scenario, query, gold, extra
    test.jsonl         (and `tools`, the names of the functions shown, when not all of them)

The PTBench format (`--format ptbench`) writes the test split as test_trained_user/ and
test_untrained_user/ and the train split as train/data.json, each record self-contained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pertool.benchmarks.ptbench import to_record, write_ptbench
from pertool.benchmarks.validation import check_unique_ids, expect, validate
from pertool.builtin.generate import BENCHMARK, scoped_profile
from pertool.errors import DataError
from pertool.fileio import atomic_write_text, json_value, jsonl_dumps, read_json, read_text
from pertool.schema import Platform, Profile, Sample, Tool

__all__ = ["Format", "load_dataset", "scenario_of", "write_samples"]

Format = Literal["pertool", "ptbench"]


def scenario_of(sample: Sample) -> str:
    """The scenario a generated sample belongs to (built-in or synthesized)."""
    return str(sample.extra.get("builtin", {}).get("scenario") or sample.extra.get("scenario", ""))


def write_samples(train: list[Sample], test: list[Sample], out: Path, fmt: Format, manifest: dict[str, Any],
                  *, profiles: dict[str, Profile] | None = None,
                  profile_features: dict[str, list[str]] | None = None) -> list[Path]:  # fmt: skip
    """Write a dataset (train and test splits) in the pertool or the PTBench format.

    `profiles` are the users' whole profiles when samples show only a part of them, and
    `profile_features` the basic features each such scenario shows (`scoped_profile`)."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "manifest.json"]
    atomic_write_text(files[0], _dumps(manifest, indent=2))
    if fmt == "ptbench":
        files += write_ptbench(test, out)
        train_file = out / "train" / "data.json"
        memo: dict[int, Any] = {}
        atomic_write_text(train_file, _dumps([to_record(s, memo) for s in train]))
        return [*files, train_file]
    samples = train + test
    scenarios: dict[str, Any] = {}
    users: dict[str, Any] = {}
    listed: dict[str, tuple[set[str], set[str]]] = {}  # per scenario: platform and function names
    for s in samples:
        scenario = scenario_of(s)
        if scenario not in scenarios:
            scenarios[scenario] = {"platforms": [], "tools": []}
            listed[scenario] = (set(), set())
            if profile_features and scenario in profile_features:
                scenarios[scenario]["profile_features"] = profile_features[scenario]
        # A sample may show some of the scenario's platforms and functions: list each once.
        for platform in s.platforms:
            if platform.name not in listed[scenario][0]:
                listed[scenario][0].add(platform.name)
                scenarios[scenario]["platforms"].append(platform.model_dump(mode="json"))
        for tool in s.tools:
            if tool.function.name not in listed[scenario][1]:
                listed[scenario][1].add(tool.function.name)
                scenarios[scenario]["tools"].append(tool.model_dump(mode="json", exclude_unset=True))
        if s.user_id is not None and s.user_id not in users:
            profile = profiles[s.user_id] if profiles and s.user_id in profiles else s.profile
            users[s.user_id] = profile.model_dump(mode="json")
    for name, data in (("scenarios.json", scenarios), ("users.json", users)):
        atomic_write_text(out / name, _dumps(data))
        files.append(out / name)
    for split, rows in (("train", train), ("test", test)):
        path = out / f"{split}.jsonl"
        lines = (jsonl_dumps(_row(s, scenarios[scenario_of(s)]["tools"])) + "\n" for s in rows)
        atomic_write_text(path, "".join(lines))
        files.append(path)
    return files


def _dumps(data: Any, indent: int | None = None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent)


def _row(sample: Sample, scenario_tools: list[dict[str, Any]]) -> dict[str, Any]:
    names = [t.function.name for t in sample.tools]
    shows_all = len(names) == len(scenario_tools) and all(
        name == tool["function"]["name"] for name, tool in zip(names, scenario_tools))
    return {"id": sample.id, "split": sample.split, "user_id": sample.user_id,
            "scenario": scenario_of(sample), "query": sample.query,
            "platforms": [p.name for p in sample.platforms],
            **({} if shows_all else {"tools": names}),
            "gold_platform": sample.gold_platform,
            "gold_calls": [c.model_dump(mode="json") for c in sample.gold_calls],
            "extra": sample.extra,
            **({"environment": sample.environment.model_dump(mode="json")} if sample.environment else {}),
            }  # fmt: skip


def load_dataset(root: Path, split: Literal["train", "test"] = "test") -> list[Sample]:
    """Samples of one split of a dataset in the pertool format. Malformed files raise one
    `DataError` naming the file, the line and the field; duplicate ids are an error."""
    if not root.is_dir():
        raise DataError(str(root), "not a directory (dataset:DIR is a dataset written by `pertool generate`)")
    rows_file = root / f"{split}.jsonl"
    if not rows_file.is_file():
        raise DataError(str(rows_file), "not found; is this a dataset written by `pertool generate`?")
    scenarios = _scenarios(root / "scenarios.json")
    profiles = _profiles(root / "users.json")
    manifest = read_json(root / "manifest.json") if (root / "manifest.json").exists() else {}
    if not isinstance(manifest, dict):
        raise DataError(str(root / "manifest.json"), "expected a JSON object")
    benchmark = manifest.get("benchmark", BENCHMARK)
    if not isinstance(benchmark, str):
        raise DataError(str(root / "manifest.json"), "expected a string", field="benchmark")
    samples = []
    scoped: dict[tuple[str, str], Profile] = {}  # (user, scenario) -> the part shown, shared
    for number, line in enumerate(read_text(rows_file).split("\n"), start=1):
        if line.strip():
            where = f"{rows_file}, line {number}"
            samples.append(_sample(line, where, benchmark, scenarios, profiles, scoped))
    check_unique_ids((s.id, f"{rows_file}, line {n}") for n, s in enumerate(samples, start=1))
    return samples


@dataclass(frozen=True)
class _Scenario:
    platforms: dict[str, Platform]
    tools: list[Tool]
    profile_features: list[str] | None  # None: samples show the whole profile


def _scenarios(file: Path) -> dict[str, _Scenario]:
    data = read_json(file)
    if not isinstance(data, dict):
        raise DataError(str(file), "expected an object of scenarios")
    out = {}
    for name, spec in data.items():
        def fail(field: str, message: str, name: str = name) -> DataError:
            return DataError(str(file), message, field=f"{name}.{field}".strip("."))

        expect(spec, dict, fail, "")
        platforms = [validate(Platform, p, fail, f"platforms[{i}]")
                     for i, p in enumerate(expect(spec.get("platforms"), list, fail, "platforms"))]
        tools = [validate(Tool, t, fail, f"tools[{i}]")
                 for i, t in enumerate(expect(spec.get("tools"), list, fail, "tools"))]
        features = expect(spec.get("profile_features"), (list, type(None)), fail, "profile_features")
        for i, feature in enumerate(features or []):
            expect(feature, str, fail, f"profile_features[{i}]")
        out[name] = _Scenario({p.name: p for p in platforms}, tools, features)
    return out


def _profiles(file: Path) -> dict[str, Profile]:
    data = read_json(file)
    if not isinstance(data, dict):
        raise DataError(str(file), "expected an object of user profiles")
    return {uid: validate(Profile, p, lambda field, message: DataError(str(file), message, field=field), uid)
            for uid, p in data.items()}  # fmt: skip


def _sample(line: str, where: str, benchmark: str, scenarios: dict[str, _Scenario],
            profiles: dict[str, Profile], scoped: dict[tuple[str, str], Profile]) -> Sample:  # fmt: skip
    def fail(field: str, message: str) -> DataError:
        return DataError(where, message, field=field)

    row = expect(json_value(line, where), dict, fail, "")
    scenario = expect(row.get("scenario"), str, fail, "scenario")
    if scenario not in scenarios:
        raise fail("scenario", f"{scenario!r} is not in scenarios.json")
    spec = scenarios[scenario]
    platforms = []
    for i, name in enumerate(expect(row.get("platforms"), list, fail, "platforms")):
        if not isinstance(name, str) or name not in spec.platforms:
            raise fail(f"platforms[{i}]", f"{name!r} is not a platform of scenario {scenario!r}")
        platforms.append(spec.platforms[name])  # each sample's own order
    tools = spec.tools
    if row.get("tools") is not None:  # some of the scenario's functions, in the listed order
        by_name = {t.function.name: t for t in spec.tools}
        tools = []
        for i, name in enumerate(expect(row["tools"], list, fail, "tools")):
            if not isinstance(name, str) or name not in by_name:
                raise fail(f"tools[{i}]", f"{name!r} is not a function of scenario {scenario!r}")
            tools.append(by_name[name])
    user_id = expect(row.get("user_id"), (str, type(None)), fail, "user_id")
    if user_id is not None and user_id not in profiles:
        raise fail("user_id", f"{user_id!r} is not in users.json")
    profile = profiles[user_id] if user_id is not None else Profile()
    if user_id is not None and spec.profile_features is not None:
        if (user_id, scenario) not in scoped:
            scoped[user_id, scenario] = scoped_profile(profile, scenario, spec.profile_features)
        profile = scoped[user_id, scenario]
    environment = expect(row.get("environment"), (dict, type(None)), fail, "environment")
    fields = {key: row.get(key) for key in ("id", "split", "query", "gold_platform", "extra")}
    fields["gold_calls"] = expect(row.get("gold_calls"), list, fail, "gold_calls")
    fields["extra"] = expect(fields["extra"], (dict, type(None)), fail, "extra") or {}
    return validate(Sample, {
        **fields, "benchmark": benchmark, "user_id": user_id,
        "profile": profile, "platforms": platforms,
        "tools": tools, "environment": environment or None,
    }, fail, "")  # fmt: skip
