"""The ToolSpectrum-mode dataset in ToolSpectrum's own layout, `<pipeline>/toolspectrum/`, so that
`pertool eval --benchmark toolspectrum:all --data-dir <pipeline>/toolspectrum` loads and scores it:

    data/dataset_<subset>.json   [{instruction, persona?, environment?, toolCall: {APP, API, params} | null}]
    api/API_description.json     {app: {desc, policy, APIs: {api: {desc, required_arguments,
                                  personalized_arguments, environmental_arguments}}}}
    api/API_description_persona.json, api/API_description_environment.json  (the two views)
    prompts/prompt_call_api*.txt
    manifest.json                counts per subset, refusals, where the prompts come from

Apps are the platforms (every platform offers its scenario's APIs); an argument is keyed
"name (type)" and classed by its declared source (query -> required, profile -> personalized,
environment -> environmental), its description ending "Available values: [...]" where
enumerated. An app's policy lists the prohibitions it enforces. The prompts are ToolSpectrum's
own templates when a ToolSpectrum data directory resolves (`resolve_data_dir`), else
pertool-authored templates with the same placeholders (the manifest says which).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pertool.errors import PertoolError
from pertool.fileio import atomic_write_text
from pertool.synth.records import (
    ApiRecord,
    EnvironmentRecord,
    PlatformRecord,
    PolicyRecord,
    QueryRecord,
    UserRecord,
    VerdictRecord,
)
from pertool.synth.store import PipelineDir
from pertool.synth.toolspectrum import SUBSETS, persona_of, source_of

__all__ = ["OUT", "write_toolspectrum", "PROMPTS", "apps_of"]

OUT = "toolspectrum"
_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
}
_CLASSES = {"query": "required_arguments", "profile": "personalized_arguments",
            "environment": "environmental_arguments"}  # fmt: skip
_VIEWS = {"API_description.json": (), "API_description_persona.json": ("environmental_arguments",),
          "API_description_environment.json": ("personalized_arguments",)}  # fmt: skip
PROMPT_FILES = {"persona": "prompt_call_api_persona.txt", "environment": "prompt_call_api_environment.txt",
                "persona_environment": "prompt_call_api.txt"}  # fmt: skip

_OUTPUT = """Answer with one JSON object and nothing else:
    {"APP": "APP", "API": "API", "params": {"key1": "value1", ...}, "explanation": "EXPLANATION"}
Use only the toolset's apps, APIs and parameters, with values in their ranges."""
# pertool-authored templates (used when ToolSpectrum's own are not at hand): same placeholders.
PROMPTS = {
    "persona": "You are a personalized tool assistant. Given the user's instruction, the user's persona "
    "(gender, age, profession, income level, other facts and preferences) and a toolset (apps, "
    "their APIs and parameters), choose the app, the API and the parameters that fit the "
    "instruction and the persona best.\n" + _OUTPUT + "\n\n### Input\n## User Instruction\n"
    "<INSTRUCTION_PLACEHOLDER>\n\n## User Persona\n<PERSONA_PLACEHOLDER>\n\n## Toolset\n"
    "<TOOLSET_PLACEHOLDER>\n\n### Output\n",
    "environment": "You are a personalized tool assistant. Given the user's instruction, the environment "
    "(weather, time of day, location, date, network condition, device type, battery level) and a "
    "toolset (apps, their APIs and parameters), choose the app, the API and the parameters that "
    "fit the instruction and the situation best.\n" + _OUTPUT + "\n\n### Input\n## User Instruction\n"
    "<INSTRUCTION_PLACEHOLDER>\n\n## Environment\n<ENVIRONMENT_PLACEHOLDER>\n\n## Toolset\n"
    "<TOOLSET_PLACEHOLDER>\n\n### Output\n",
    "persona_environment": "You are a personalized tool assistant. Given the user's instruction, persona, "
    "environment and a toolset (apps with their policies, APIs and parameters), choose the app, "
    "the API and the parameters that fit the instruction, the persona and the situation best. "
    "If an app's policy forbids the request for this user or situation on every app that could "
    "serve it, refuse: set APP, API and params to null.\n" + _OUTPUT + "\n\n### Input\n"
    "## User Instruction\n<INSTRUCTION_PLACEHOLDER>\n\n## User Persona\n<PERSONA_PLACEHOLDER>\n\n"
    "## Environment\n<ENVIRONMENT_PLACEHOLDER>\n\n## Toolset\n<TOOLSET_PLACEHOLDER>\n\n### Output\n",
}  # fmt: skip


def _argument(name: str, spec: dict[str, Any]) -> tuple[str, str]:
    key = f"{name} ({_TYPES.get(str(spec.get('type')), 'str')})"
    text = str(spec.get("description") or name).strip()
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        text = f"{text.rstrip('.')}. Available values: {enum!r}."  # Python literals, as ToolSpectrum's
    return key, text


def _api_description(api: ApiRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"desc": str(api.function.get("description", ""))}
    for cls in _CLASSES.values():
        out[cls] = {}
    for name, spec in ((api.function.get("parameters") or {}).get("properties") or {}).items():
        if isinstance(spec, dict):
            key, text = _argument(str(name), spec)
            out[_CLASSES[source_of(spec)[0]]][key] = text
    return out


def _distinct(platforms: list[PlatformRecord]) -> dict[str, str]:
    """Per platform, one characteristic no other platform of its scenario shares ("<k> is <v>")."""
    out = {}
    for p in platforms:
        for k, v in sorted(p.characteristics.items()):
            if all(o.characteristics.get(k) != v for o in platforms if o.key != p.key):
                out[p.name] = f"{k} is {v}"
                break
    return out


def apps_of(d: PipelineDir) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The full toolset, and per scenario each app's distinct characteristic."""
    platforms = d.read("platforms", PlatformRecord)
    apis = d.read("apis", ApiRecord)
    policies = d.read("policies", PolicyRecord)
    environments = d.read("environments", EnvironmentRecord)
    apps: dict[str, Any] = {}
    described: dict[str, dict[str, str]] = {}
    for scenario in sorted({p.scenario for p in platforms.values()}):
        mine = sorted((p for p in platforms.values() if p.scenario == scenario), key=lambda p: p.key)
        described[scenario] = _distinct(mine)
        env = environments.get(scenario)
        for platform in mine:
            if platform.name in apps:
                raise PertoolError(f"platform name {platform.name!r} is used by two scenarios; "
                                   "ToolSpectrum's layout keys apps by name")  # fmt: skip
            traits = ", ".join(f"{k}: {v}" for k, v in sorted(platform.characteristics.items()))
            ruled = [r for r in (env.platform_rules if env else []) if r["platform"] == platform.name]
            rules = [f"the app to use when {r['factor']} is {r['value']}" for r in ruled]
            desc = f"An app for {scenario} ({traits})" + (f"; {'; '.join(rules)}" if rules else "") + "."
            apps[platform.name] = {
                "desc": desc,
                "policy": [p.text for p in sorted(policies.values(), key=lambda p: p.key)
                           if p.scenario == scenario and platform.name in p.platforms],
                "APIs": {str(a.function["name"]): _api_description(a)
                         for a in sorted(apis.values(), key=lambda a: a.key) if a.scenario == scenario},
            }  # fmt: skip
    return apps, described


def _view(apps: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {name: {**app, "APIs": {api: {k: v for k, v in desc.items() if k not in drop}
                                   for api, desc in app["APIs"].items()}}
            for name, app in apps.items()}  # fmt: skip


def _prompts(target: Path) -> str:
    """Copy ToolSpectrum's templates where its data resolves, else write pertool's; says which."""
    from pertool.benchmarks.toolspectrum import resolve_data_dir

    (target / "prompts").mkdir(parents=True, exist_ok=True)
    try:
        root = resolve_data_dir()
    except PertoolError:
        root = None
    if root is not None and all((root / "prompts" / f).is_file() for f in PROMPT_FILES.values()):
        for name in PROMPT_FILES.values():
            shutil.copyfile(root / "prompts" / name, target / "prompts" / name)
        return f"ToolSpectrum's own templates, copied from {root / 'prompts'}"
    for subset, name in PROMPT_FILES.items():
        atomic_write_text(target / "prompts" / name, PROMPTS[subset])
    return "pertool-authored templates with ToolSpectrum's placeholders (ToolSpectrum's data was not found)"


def write_toolspectrum(d: PipelineDir) -> dict[str, Any]:
    """Write `<pipeline>/toolspectrum/` from the accepted samples, each with the plan's gold (the
    assistant agreed with it); returns the manifest."""
    from pertool.synth.stages.ts_samples import gold_of, worlds_of

    users = d.read("users", UserRecord)
    queries = d.read("queries", QueryRecord)
    verdicts = d.read("verdicts", VerdictRecord)
    index = worlds_of(d, d.config())
    apps, described = apps_of(d)
    samples: dict[str, list[dict[str, Any]]] = {s: [] for s in SUBSETS}
    seen: set[str] = set()
    duplicates = 0
    for key in sorted(queries):
        query, verdict, world = queries[key], verdicts.get(key), index.get(queries[key].scenario)
        if verdict is None or not verdict.accepted or world is None or query.subset not in samples:
            continue
        solution = gold_of(query, world, users[query.user])
        if solution is None:
            continue
        record: dict[str, Any] = {"instruction": query.query}
        if query.subset != "environment":
            record["persona"] = persona_of(users[query.user], described)
        if query.subset != "persona":
            record["environment"] = dict(query.environment or {})
        call = solution.calls[0] if solution.platform is not None and solution.calls else None
        record["toolCall"] = (
            {"APP": solution.platform, "API": call.name, "params": call.arguments} if call else None
        )
        # The oracle finds a sample by its prompt: two samples with one prompt cannot both be scored.
        signature = json.dumps(
            [query.subset, {k: v for k, v in record.items() if k != "toolCall"}], sort_keys=True
        )
        if signature in seen:
            duplicates += 1
            continue
        seen.add(signature)
        samples[query.subset].append(record)
    target = d.path / OUT
    for subset, records in samples.items():
        atomic_write_text(target / "data" / f"dataset_{subset}.json",
                          json.dumps(records, ensure_ascii=False, indent=1) + "\n")  # fmt: skip
    for name, drop in _VIEWS.items():
        atomic_write_text(
            target / "api" / name, json.dumps(_view(apps, drop), ensure_ascii=False, indent=1) + "\n"
        )
    manifest = {
        "benchmark": "toolspectrum", "made_by": "pertool synth (ToolSpectrum mode)",
        "prompts": _prompts(target),
        "counts": {s: len(r) for s, r in samples.items()},
        "refusals": {s: sum(r["toolCall"] is None for r in rs) for s, rs in samples.items()},
        "duplicates_left_out": duplicates,
    }  # fmt: skip
    atomic_write_text(target / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
