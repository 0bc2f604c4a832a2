"""SFT records from benchmark samples, in the formats trainers read.

Each record is the prompt the evaluator renders (system prompt + query; the profile view
applied) with the gold answer as the assistant turn: the answer text (text mode) or assistant
`tool_calls` with the tools beside them (native mode, the platform in each call's arguments).

    trl           {"messages": [...], "tools": [...]?}             TRL's conversational format
    llamafactory  {"conversations": [{"from", "value"}], "system", "tools"?} + dataset_info.json
    openai        {"messages": [...], "tools": [...]?}             OpenAI fine-tuning JSONL
    prompt-completion (used by `pertool train lora`): {"prompt": [...], "completion": [...]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pertool.errors import DataError, PertoolError
from pertool.fileio import atomic_write_text, jsonl_dumps, read_json
from pertool.kinds import kind_of
from pertool.schema import Sample

__all__ = ["FORMATS", "TEST_SPLITS", "check_trainable", "sft_conversation", "to_format", "write_export"]

Format = Literal["trl", "llamafactory", "openai"]
FORMATS: tuple[Format, ...] = ("trl", "llamafactory", "openai")
TEST_SPLITS = ("trained", "untrained", "test")  # what `builtin`, `ptbench`, ... evaluate on


def check_trainable(samples: Sequence[Sample], allow_test: bool) -> None:
    """Refuse test-split samples unless explicitly allowed (training on them leaks the test)."""
    test = [s for s in samples if kind_of(s).is_test(s)]
    if test and not allow_test:
        raise PertoolError(
            f"{len(test)} of {len(samples)} samples are from a test split ({test[0].id}, ...): "
            "training on them would leak the test set. Export a train split (e.g. builtin:train) "
            "or pass --allow-test if this is really what you want."
        )


Messages = list[dict[str, Any]]


def sft_conversation(sample: Sample, tool_mode: str = "text") -> tuple[Messages, Messages]:
    """(messages ending with the gold assistant turn, tools or [])."""
    kind = kind_of(sample)
    if tool_mode == "native" and "native" in kind.tool_modes:
        prompt = kind.prompt(sample, "native")
        calls = [{"type": "function",
                  "function": {"name": c["name"], "arguments": json.loads(c["arguments"])}}
                 for c in kind.gold_tool_calls(sample)]  # fmt: skip
        return [*prompt.messages, {"role": "assistant", "content": "", "tool_calls": calls}], \
            list(prompt.tools)  # fmt: skip
    answer = {"role": "assistant", "content": kind.gold_text(sample)}
    return [*kind.prompt(sample, "text").messages, answer], []


def to_format(messages: list[dict[str, Any]], tools: list[dict[str, Any]], fmt: Format) -> dict[str, Any]:
    if fmt == "llamafactory":
        return _sharegpt(messages, tools)
    if fmt == "openai":
        messages = [_openai_message(m) for m in messages]
    record: dict[str, Any] = {"messages": messages}
    if tools:
        record["tools"] = tools
    return record


def _openai_message(message: dict[str, Any]) -> dict[str, Any]:
    """OpenAI fine-tuning wants tool-call arguments as a JSON string and an id per call."""
    if "tool_calls" not in message:
        return message
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": c["function"]["name"],
                           "arguments": json.dumps(c["function"]["arguments"])}}
             for i, c in enumerate(message["tool_calls"])]  # fmt: skip
    return {"role": "assistant", "tool_calls": calls}


def _sharegpt(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = []
    for m in messages:
        if m["role"] == "user":
            turns.append({"from": "human", "value": m["content"]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                turns.append({"from": "function_call", "value": json.dumps(
                    {"name": call["function"]["name"], "arguments": call["function"]["arguments"]})})
        elif m["role"] == "assistant":
            turns.append({"from": "gpt", "value": m["content"]})
    record: dict[str, Any] = {"conversations": turns, "system": system}
    if tools:
        record["tools"] = json.dumps([t["function"] for t in tools])
    return record


def write_export(samples: Sequence[Sample], out: Path, fmt: Format, tool_mode: str = "text") -> list[Path]:
    """Write the JSONL file (and, for LLaMA-Factory, dataset_info.json beside it)."""
    lines = [jsonl_dumps(to_format(*sft_conversation(s, tool_mode), fmt)) for s in samples]
    info_file = out.parent / "dataset_info.json"
    existing = read_dataset_info(info_file) if fmt == "llamafactory" else {}  # refused before writing
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    written = [out]
    if fmt == "llamafactory":
        columns = {"messages": "conversations", "system": "system"}
        if tool_mode == "native":
            columns["tools"] = "tools"
        info = {out.stem: {"file_name": out.name, "formatting": "sharegpt", "columns": columns}}
        atomic_write_text(info_file, json.dumps({**existing, **info}, indent=2) + "\n")
        written.append(info_file)
    return written


def read_dataset_info(info_file: Path) -> dict[str, Any]:
    """LLaMA-Factory's registry beside the export: merged (other datasets' entries kept), never
    replaced; one that is not a JSON object is refused rather than overwritten."""
    if not info_file.exists():
        return {}
    try:
        existing = read_json(info_file)
    except DataError as exc:
        raise PertoolError(f"{exc}; pertool merges its entry into it and will not overwrite it") from None
    if not isinstance(existing, dict):
        raise PertoolError(f"{info_file}: expected a JSON object of datasets; pertool will not overwrite it")
    return existing
