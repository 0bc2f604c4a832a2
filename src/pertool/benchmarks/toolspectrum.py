"""ToolSpectrum (Cheng et al. 2025): three subsets, apps with policies, classed API parameters.

Layout of a data directory (the public repository's, and what `pertool data download
toolspectrum` writes): `data/dataset_<subset>.json`, `api/API_description*.json`,
`prompts/prompt_call_api*.txt`. Apps become platforms (description and policy in their
profile), APIs become tools (`app` names the app; each property carries `x-class`: required,
personalized or environmental; "Available values" become enums), a null toolCall becomes a
refusal gold (`gold_platform` None). Sample ids are `<subset>:<index>`.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pertool.benchmarks.validation import Fail, expect, validate
from pertool.errors import DataError, SpecError
from pertool.fileio import read_json, read_text, user_data_dir
from pertool.parsing.literals import NotALiteral, literal_value
from pertool.schema import Environment, GoldCall, Platform, Profile, Provenance, Sample, Tool

__all__ = ["SUBSETS", "QualityReport", "load_toolspectrum", "resolve_data_dir", "api_file", "TOOLSPECTRUM"]

TOOLSPECTRUM = "toolspectrum"
ROOT_KEY = "toolspectrum_root"
SUBSETS = ("persona", "environment", "persona_environment")
_API_FILES = {"persona": "API_description_persona.json", "environment": "API_description_environment.json",
              "persona_environment": "API_description.json"}  # fmt: skip
PROMPT_FILES = {"persona": "prompt_call_api_persona.txt", "environment": "prompt_call_api_environment.txt",
                "persona_environment": "prompt_call_api.txt"}  # fmt: skip
_CLASSES: dict[str, Provenance] = {"required_arguments": "required", "personalized_arguments": "personalized",
                                   "environmental_arguments": "environmental"}  # fmt: skip
_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
               "dict": "object"}  # fmt: skip
_FIELDS = ("instruction", "persona", "environment", "toolCall")
_ARG = re.compile(r"^\s*(\w+)\s*\((\w+)\)\s*$")
_AVAILABLE = re.compile(r"Available values:\s*(\[.*\])\s*\.?\s*$", re.DOTALL)


@dataclass
class QualityReport:
    """What in the data does not fit the API descriptions (kept and reported, never dropped)."""

    unclassed_params: list[str] = field(default_factory=list)  # "<id>: API.param"
    unknown_calls: list[str] = field(default_factory=list)  # "<id>: APP.API"
    odd_types: list[str] = field(default_factory=list)  # "APP.API.param: type"

    def to_json(self) -> dict[str, list[str]]:
        return {"unclassed_params": self.unclassed_params, "unknown_calls": self.unknown_calls,
                "odd_types": self.odd_types}  # fmt: skip


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $PERTOOL_DATA_DIR (if it has the layout itself), else the downloaded copy."""
    candidates = [Path(data_dir)] if data_dir else []
    if os.environ.get("PERTOOL_DATA_DIR"):
        candidates.append(Path(os.environ["PERTOOL_DATA_DIR"]))
    candidates.append(user_data_dir() / TOOLSPECTRUM)
    for root in candidates:
        if (root / "api").is_dir() and (root / "data").is_dir():
            return root
    if data_dir:
        raise SpecError(f"{data_dir} does not have ToolSpectrum's layout (data/, api/, prompts/)")
    raise SpecError(f"ToolSpectrum data not found (looked in {', '.join(map(str, candidates))}); run "
                    "`pertool data download toolspectrum` or pass --data-dir DIR")  # fmt: skip


def api_file(root: Path, subset: str) -> Path:
    return root / "api" / _API_FILES[subset]


def load_toolspectrum(subset: str, data_dir: str | Path | None = None,
                      report: QualityReport | None = None) -> list[Sample]:  # fmt: skip
    """Samples of one subset, or of all three (`subset="all"`)."""
    root = resolve_data_dir(data_dir)
    if subset == "all":
        return [s for name in SUBSETS for s in load_toolspectrum(name, root, report)]
    if subset not in SUBSETS:
        raise SpecError(f"unknown ToolSpectrum subset {subset!r}; use {', '.join(SUBSETS)} or all")
    file = root / "data" / f"dataset_{subset}.json"
    if not file.is_file():
        raise SpecError(f"{file} not found; `pertool data download toolspectrum` fetches all three subsets")
    apps = _apps(api_file(root, subset), report)
    read_text(root / "prompts" / PROMPT_FILES[subset])  # checked now: a run must not fail later
    records = read_json(file)
    if not isinstance(records, list):
        raise DataError(str(file), "expected a JSON list of samples")
    report = report if report is not None else QualityReport()
    return [_sample(r, i, subset, root, apps, report) for i, r in enumerate(records)]


@dataclass(frozen=True)
class _App:
    platform: Platform
    tools: dict[str, Tool]  # API name -> tool
    classes: dict[str, dict[str, Provenance]]  # API name -> param -> class


@cache
def _apps_cached(path: Path, mtime: float) -> tuple[dict[str, _App], tuple[str, ...]]:
    odd: list[str] = []
    apps = {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(str(path), "expected an object of apps")
    for name, spec in data.items():
        def fail(field_: str, message: str, name: str = name) -> DataError:
            return DataError(str(path), message, field=f"{name}.{field_}".strip("."))

        expect(spec, dict, fail, "")
        tools, classes = {}, {}
        for api, desc in expect(spec.get("APIs", {}), dict, fail, "APIs").items():
            expect(desc, dict, fail, f"APIs.{api}")
            tools[api], classes[api] = _tool(name, api, desc, odd, fail)
        profile = {"desc": expect(spec.get("desc", ""), str, fail, "desc")}
        if "policy" in spec:
            profile["policy"] = spec["policy"]
        apps[name] = _App(validate(Platform, {"name": name, "profile": profile}, fail, ""), tools, classes)
    return apps, tuple(odd)


def _apps(path: Path, report: QualityReport | None) -> dict[str, _App]:
    if not path.is_file():
        raise DataError(str(path), "file not found")
    apps, odd = _apps_cached(path, path.stat().st_mtime)
    if report is not None:
        report.odd_types.extend(o for o in odd if o not in report.odd_types)
    return apps


def _tool(app: str, api: str, desc: dict[str, Any], odd: list[str],
          fail: Fail) -> tuple[Tool, dict[str, Provenance]]:  # fmt: skip
    properties: dict[str, Any] = {}
    classes: dict[str, Provenance] = {}
    required: list[str] = []
    for key, cls in _CLASSES.items():
        for raw, text in expect(desc.get(key) or {}, dict, fail, f"APIs.{api}.{key}").items():
            expect(text, str, fail, f"APIs.{api}.{key}.{raw}")
            match = _ARG.match(raw)
            name, kind = (match.group(1), match.group(2)) if match else (raw.split(" ")[0], "str")
            if kind not in _JSON_TYPES:
                odd.append(f"{app}.{api}.{name}: type {kind!r} read as string")
            prop: dict[str, Any] = {"type": _JSON_TYPES.get(kind, "string"), "description": text,
                                    "x-class": cls}  # fmt: skip
            enum = _available(text)
            if enum is not None:
                prop["enum"] = enum
            properties[name] = prop
            classes[name] = cls
            if cls == "required":
                required.append(name)
    return validate(Tool, {"type": "function", "app": app, "function": {
        "name": api, "description": expect(desc.get("desc", ""), str, fail, f"APIs.{api}.desc"),
        "parameters": {"type": "object", "properties": properties, "required": required}}},
        fail, f"APIs.{api}"), classes  # fmt: skip


def _available(text: str) -> list[Any] | None:
    match = _AVAILABLE.search(text)
    if not match:
        return None
    try:
        value = literal_value(ast.parse(match.group(1), mode="eval").body)
    except (SyntaxError, NotALiteral, ValueError, RecursionError, MemoryError):
        return None
    return value if isinstance(value, list) else None


def _sample(record: Any, index: int, subset: str, root: Path, apps: dict[str, _App],
            report: QualityReport) -> Sample:  # fmt: skip
    file = str(root / "data" / f"dataset_{subset}.json")

    def fail(field_: str, message: str) -> DataError:
        return DataError(file, message, index=index, field=field_)

    if not isinstance(record, dict) or not isinstance(record.get("instruction"), str):
        raise fail("instruction", "expected an object with a string instruction")
    sample_id = f"{subset}:{index}"
    persona = record.get("persona")
    environment = record.get("environment")
    if subset != "environment" and not isinstance(persona, dict):
        raise fail("persona", "expected an object")
    if subset != "persona" and not isinstance(environment, dict):
        raise fail("environment", "expected an object")
    gold_platform, calls = _gold(record.get("toolCall"), sample_id, apps, report, fail)
    extra = {k: v for k, v in record.items() if k not in _FIELDS}
    extra[ROOT_KEY] = str(root)  # where the prompt templates and API files live
    return Sample(
        id=sample_id, benchmark=TOOLSPECTRUM, split=subset, query=record["instruction"],
        profile=Profile(basic_features=persona or {}),
        environment=Environment.model_validate(environment) if environment is not None else None,
        platforms=[a.platform for a in apps.values()],
        tools=[t for a in apps.values() for t in a.tools.values()],
        gold_platform=gold_platform, gold_calls=calls, extra=extra,
    )  # fmt: skip


def _gold(call: Any, sample_id: str, apps: dict[str, _App], report: QualityReport,
          fail: Any) -> tuple[str | None, list[GoldCall]]:  # fmt: skip
    if call is None or (isinstance(call, dict) and call.get("APP") is None):
        return None, []  # a refusal: null, or {"APP": null, ...} as the prompts spell it
    if not (isinstance(call, dict) and isinstance(call.get("APP"), str) and isinstance(call.get("API"), str)):
        raise fail("toolCall", "expected {APP, API, params} or null")
    app, api, params = call["APP"], call["API"], call.get("params") or {}
    if not isinstance(params, dict):
        raise fail("toolCall.params", "expected an object")
    known = apps.get(app)
    classes = known.classes.get(api) if known else None
    if classes is None:
        report.unknown_calls.append(f"{sample_id}: {app}.{api}")
        classes = {}
    tool = known.tools.get(api) if known else None
    properties = tool.function.parameters.get("properties", {}) if tool else {}
    arguments, sources = {}, {}
    for name, value in params.items():
        arguments[name] = [normalize_value(value, properties.get(name, {}).get("type"))]
        if name in classes:
            sources[name] = classes[name]
        else:
            report.unclassed_params.append(f"{sample_id}: {api}.{name}")
    return app, [GoldCall(name=api, arguments=arguments, sources=sources)]


def normalize_value(value: Any, json_type: str | None) -> Any:
    """The string booleans "True"/"False" become booleans where the API declares a bool."""
    if json_type == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value
