"""`pertool train export --format hf`: the SFT records of `training/sft.py` (TRL's
conversational format) as a saved DatasetDict, one split per benchmark split.

Messages are typed (role, content, tool calls with name and JSON-text arguments, as OpenAI's
format spells them); the tools column is JSON text (JSON schemas differ per tool, Arrow needs one
type per column). `record_of(row)` gives back exactly the `--format trl` record; each record is
checked to round-trip before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pertool.errors import PertoolError
from pertool.fileio import atomic_write_text
from pertool.hfdata.card import dataset_card
from pertool.hfdata.need import datasets_module
from pertool.schema import Sample

__all__ = ["export_sft", "record_of", "row_of", "sft_features"]

_FIELDS = (
    ("id", "string", "the benchmark sample the record was made from"),
    ("split", "string", "its benchmark split"),
    ("messages", "list of {role, content, tool_calls}", "the evaluator's prompt and the gold assistant turn; "
     "tool_calls (native mode): list of {type, function: {name, arguments (JSON text)}}, null otherwise"),
    ("tools", "string (JSON, nullable)", "native mode: the tools as OpenAI `tools=` takes them"),
)  # fmt: skip


def sft_features(datasets: Any) -> Any:
    string = datasets.Value("string")
    call = {"type": string, "function": {"name": string, "arguments": string}}
    message = {"role": string, "content": string, "tool_calls": datasets.List(call)}
    return datasets.Features({"id": string, "split": string, "messages": datasets.List(message),
                              "tools": string})


def row_of(sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
    messages = []
    for m in record["messages"]:
        calls = m.get("tool_calls")
        typed = None if calls is None else [
            {"type": c.get("type"), "function": {"name": c["function"].get("name"),
             "arguments": json.dumps(c["function"].get("arguments"), ensure_ascii=False)}}
            for c in calls]  # fmt: skip
        messages.append({"role": m.get("role"), "content": m.get("content"), "tool_calls": typed})
    tools = record.get("tools")
    return {"id": sample.id, "split": sample.split, "messages": messages,
            "tools": None if tools is None else json.dumps(tools, ensure_ascii=False)}  # fmt: skip


def record_of(row: dict[str, Any]) -> dict[str, Any]:
    """The `--format trl` record a row holds."""
    messages = []
    for m in row["messages"]:
        message = {"role": m["role"], "content": m["content"]}
        if m.get("tool_calls") is not None:
            message["tool_calls"] = [{"type": c["type"], "function": {"name": c["function"]["name"],
                                      "arguments": json.loads(c["function"]["arguments"])}}
                                     for c in m["tool_calls"]]  # fmt: skip
        messages.append(message)
    record: dict[str, Any] = {"messages": messages}
    if row.get("tools") is not None:
        record["tools"] = json.loads(row["tools"])
    return record


def export_sft(samples: Sequence[Sample], records: Sequence[dict[str, Any]], out: Path, *, source: str,
               kind: str, license_note: str, tool_mode: str) -> dict[str, int]:  # fmt: skip
    datasets = datasets_module()
    if not samples:
        raise PertoolError(f"{source} has no samples to export")
    features = sft_features(datasets)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for sample, record in zip(samples, records):
        row = row_of(sample, record)
        if record_of(row) != record:  # a field the typed messages have no place for
            raise PertoolError(f"sample {sample.id}: its SFT record does not fit the hf format's typed "
                               "messages; export it as --format trl")  # fmt: skip
        by_split.setdefault(sample.split, []).append(row)
    splits = {name: datasets.Dataset.from_dict({f: [r[f] for r in rows] for f in features}, features=features)
              for name, rows in by_split.items()}  # fmt: skip
    datasets.DatasetDict(splits).save_to_disk(str(out))
    counts = {name: len(rows) for name, rows in by_split.items()}
    note = ("Records are TRL's conversational format (`pertool train export --format trl`); `json.loads` "
            "the tool-call arguments and the tools column to feed them to a chat template.")
    card = dataset_card(title=f"{source} (pertool SFT export, {tool_mode} tool mode)", source=source,
                        kind=kind, license_note=license_note, splits=counts, fields=_FIELDS, notes=(note,))
    atomic_write_text(out / "README.md", card)
    return counts
