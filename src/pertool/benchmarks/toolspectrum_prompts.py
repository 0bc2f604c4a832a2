"""ToolSpectrum prompts: the public templates with their placeholders filled.

The templates are single user messages. Instruction as given; persona, environment and toolset
as pretty-printed JSON (the templates call them dictionaries); the toolset is the subset's API
description file as published (persona view, environment view, or the full file with the apps'
policies for the persona_environment subset).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pertool.benchmarks.toolspectrum import PROMPT_FILES, ROOT_KEY, api_file, resolve_data_dir
from pertool.fileio import json_value, read_text
from pertool.schema import Sample

__all__ = ["toolspectrum_messages", "toolspectrum_prompt", "TEMPLATES"]

TEMPLATES = PROMPT_FILES


@cache
def _read(path: Path) -> str:
    return read_text(path)  # a file gone since loading is one error line, not a traceback


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=4)


def toolspectrum_prompt(sample: Sample, data_dir: str | Path | None = None) -> str:
    root = resolve_data_dir(data_dir or sample.extra.get(ROOT_KEY))
    subset = sample.split
    text = _read(root / "prompts" / TEMPLATES[subset])
    toolset = json_value(_read(api_file(root, subset)), str(api_file(root, subset)))
    persona = sample.profile.basic_features
    environment = sample.environment.model_dump(mode="json") if sample.environment else {}
    return (text.replace("<INSTRUCTION_PLACEHOLDER>", sample.query)
                .replace("<PERSONA_PLACEHOLDER>", _json(persona))
                .replace("<ENVIRONMENT_PLACEHOLDER>", _json(environment))
                .replace("<TOOLSET_PLACEHOLDER>", _json(toolset)))  # fmt: skip


def toolspectrum_messages(sample: Sample, data_dir: str | Path | None = None) -> list[dict[str, str]]:
    return [{"role": "user", "content": toolspectrum_prompt(sample, data_dir)}]
