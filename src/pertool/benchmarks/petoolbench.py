"""PEToolBench (Xu et al., Findings of ACL 2025): 1,000 test entries posed in three settings.

One file, `user_entries_test.json` (a list of entries; see docs/petoolbench.md), read from
--data-dir, $PERTOOL_DATA_DIR or the copy `pertool data download petoolbench` extracted; a
directory holding the JSON or its zip, the JSON itself or the zip all work. Each entry becomes
one sample per setting, id `<setting>:<index>` (the 0-based list index): the candidate APIs
become tools (names exactly as given), the gold call one `GoldCall`, and `extra` keeps the
setting's system prompt verbatim (`instruction`), `entry_id` and `history_length`. The fields
that give the answer away (`func`, `apis_same_func`, `tool_comb`, `api_ground_truth`) go to
`extra["metadata"]`, which scoring and breakdowns read and no prompt ever does.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertool.benchmarks.validation import Fail, expect, one_line, validate
from pertool.errors import DataError, SpecError
from pertool.fileio import read_file_bytes, user_data_dir
from pertool.parsing.petoolbench import tool_parts
from pertool.schema import GoldCall, Sample, Tool

__all__ = ["DATA_FILE", "METADATA_FIELDS", "PETOOLBENCH", "SETTINGS", "ZIP_FILE", "load_petoolbench",
           "petoolbench_dir", "read_entries", "read_zip_member", "tool_parts"]  # fmt: skip

PETOOLBENCH = "petoolbench"
SETTINGS = ("preferred", "ratings", "chronological")
DATA_FILE = "user_entries_test.json"
ZIP_FILE = DATA_FILE + ".zip"
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # the real member is 45 MB; a zip bomb stops here
# Answer-revealing fields: kept for scoring and breakdowns only (never in a prompt).
METADATA_FIELDS = ("func", "apis_same_func", "tool_comb", "api_ground_truth", "num_tools_combined")
_METADATA_TYPES: dict[str, type] = {"func": str, "apis_same_func": list, "tool_comb": list,
                                    "api_ground_truth": dict, "num_tools_combined": str}  # fmt: skip
# The candidates' parameter types -> JSON-schema types (others, e.g. "DATE (YYYY-MM-DD)", are strings).
_JSON_TYPES = {"STRING": "string", "NUMBER": "number", "BOOLEAN": "boolean", "ARRAY": "array",
               "OBJECT": "object", "INTEGER": "integer"}  # fmt: skip


def petoolbench_dir() -> Path:
    return user_data_dir() / PETOOLBENCH


def resolve_source(data_dir: str | Path | None = None) -> Path:
    """The file to read: --data-dir (a directory, the JSON or the zip; nothing else is tried
    when it is given, so a wrong path is an error, never another copy), else $PERTOOL_DATA_DIR
    (the directory itself or its `petoolbench/`), else the downloaded copy."""
    roots = [Path(data_dir)] if data_dir else []
    if not data_dir and os.environ.get("PERTOOL_DATA_DIR"):
        roots.append(Path(os.environ["PERTOOL_DATA_DIR"]))
    if not data_dir:
        roots.append(petoolbench_dir())
    for root in roots:
        if root.is_file() and root.name.endswith((".json", ".zip")):
            return root
        for directory in (root, root / PETOOLBENCH):
            for name in (DATA_FILE, ZIP_FILE):  # the extracted file first: no unzipping each time
                if (directory / name).is_file():
                    return directory / name
    if data_dir:
        raise SpecError(f"--data-dir {data_dir}: no {DATA_FILE} or {ZIP_FILE} there (give the directory "
                        "that holds one, or the file itself)")
    raise SpecError(f"PEToolBench data not found (looked in {', '.join(map(str, roots))}); run "
                    "`pertool data download petoolbench` or pass --data-dir DIR")  # fmt: skip


def read_zip_member(path: Path, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """The bytes of `user_entries_test.json` inside the zip (macOS `__MACOSX/` forks ignored),
    refusing a member larger than `limit` before and while reading it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.filename.startswith("__MACOSX/")
                       and not i.is_dir() and i.filename.rsplit("/", 1)[-1] == DATA_FILE]  # fmt: skip
            if len(members) != 1:
                found = ", ".join(i.filename for i in archive.infolist()[:5]) or "nothing"
                raise DataError(str(path), f"expected one member {DATA_FILE}, found {found}")
            info = members[0]
            if info.file_size > limit:
                raise DataError(str(path), f"member {info.filename} is {info.file_size} bytes, over {limit}")
            with archive.open(info) as handle:
                data = handle.read(limit + 1)  # the declared size may lie; the read is bounded anyway
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise DataError(str(path), f"not a readable zip archive ({one_line(str(exc))})") from None
    if len(data) > limit:
        raise DataError(str(path), f"member {DATA_FILE} is larger than {limit} bytes")
    return data


def read_entries(path: Path) -> list[Any]:
    """The top-level list of entries, from the JSON file or from the zip."""
    data = read_zip_member(path) if path.name.endswith(".zip") else read_file_bytes(path)
    try:
        entries = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise DataError(str(path), f"not valid JSON ({one_line(str(exc))})") from None
    if not isinstance(entries, list):
        raise DataError(str(path), "expected a JSON list of entries")
    if not entries:  # a run of 0 samples would look like a result
        raise DataError(str(path), "the list of entries is empty")
    return entries


def load_petoolbench(setting: str = "all", data_dir: str | Path | None = None) -> list[Sample]:
    """Samples of one setting, or of all three (`setting="all"`: every setting's samples, in
    setting order)."""
    settings = SETTINGS if setting == "all" else (setting,)
    if setting != "all" and setting not in SETTINGS:
        raise SpecError(f"unknown PEToolBench setting {setting!r}; use {', '.join(SETTINGS)} or all")
    path = resolve_source(data_dir)
    entries = [_Entry.read(e, i, path, _ToolCache(str(path))) for i, e in enumerate(read_entries(path))]
    return [entry.sample(name) for name in settings for entry in entries]


class _ToolCache:
    """One `Tool` per candidate name: each candidate repeats across entries and is validated
    once (a differing spec under the same name is built apart)."""

    def __init__(self, file: str):
        self.file = file
        self.tools: dict[str, tuple[dict[str, Any], Tool]] = {}

    def tool(self, raw: Any, fail: Fail, where: str) -> Tool:
        name = expect(raw.get("tool_name") if isinstance(raw, dict) else raw, str, fail, f"{where}.tool_name")
        cached = self.tools.get(name)
        if cached is not None and cached[0] == raw:
            return cached[1]
        tool = _tool(raw, name, fail, where)
        self.tools[name] = (raw, tool)
        return tool


def _tool(raw: dict[str, Any], name: str, fail: Fail, where: str) -> Tool:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key in ("required_parameters", "optional_parameters"):
        for j, param in enumerate(expect(raw.get(key, []), list, fail, f"{where}.{key}")):
            at = f"{where}.{key}.{j}"
            expect(param, dict, fail, at)
            pname = expect(param.get("name"), str, fail, f"{at}.name")
            ptype = expect(param.get("type", "STRING"), str, fail, f"{at}.type")
            text = expect(param.get("description", ""), str, fail, f"{at}.description")
            json_type = _JSON_TYPES.get(ptype.strip().upper(), "string")
            prop = {"type": json_type, "x-type": ptype, "description": text}
            if "default" in param:
                prop["default"] = param["default"]
            properties[pname] = prop
            if key == "required_parameters":
                required.append(pname)
    description = expect(raw.get("tool_description", ""), str, fail, f"{where}.tool_description")
    return validate(Tool, {"type": "function", "function": {"name": name, "description": description,
                    "parameters": {"type": "object", "properties": properties, "required": required}}},
                    fail, where)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Entry:
    """One validated entry, ready to become a sample in each setting."""

    index: int
    query: str
    instructions: dict[str, str]
    tools: list[Tool]
    gold: GoldCall
    provider: str
    extra: dict[str, Any]

    @classmethod
    def read(cls, raw: Any, index: int, path: Path, cache: _ToolCache) -> _Entry:
        file = str(path)

        def fail(field: str, message: str) -> DataError:
            return DataError(file, message, index=index, field=field)

        expect(raw, dict, fail, "")
        query = expect(raw.get("query"), str, fail, "query")
        instructions = {s: expect(raw.get(f"instruction_{s}"), str, fail, f"instruction_{s}")
                        for s in SETTINGS}  # fmt: skip
        text = expect(raw.get("apis_candidate"), str, fail, "apis_candidate")
        try:
            candidates = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise fail("apis_candidate", f"not a JSON-encoded list ({one_line(str(exc))})") from None
        expect(candidates, list, fail, "apis_candidate")
        tools = [cache.tool(c, fail, f"apis_candidate.{j}") for j, c in enumerate(candidates)]
        gold = expect(raw.get("api_call_ground_truth"), dict, fail, "api_call_ground_truth")
        name = expect(gold.get("tool_name"), str, fail, "api_call_ground_truth.tool_name")
        params = expect(gold.get("parameters"), dict, fail, "api_call_ground_truth.parameters")
        if name not in {t.name for t in tools}:  # not even the oracle could answer it
            raise fail("api_call_ground_truth.tool_name", f"{one_line(name)!r} is not among the entry's "
                       "candidates (apis_candidate)")  # fmt: skip
        parts = tool_parts(name)
        metadata = {}
        for key, kind in _METADATA_TYPES.items():
            if key in raw:  # optional for hand-made files; checked when present
                metadata[key] = expect(raw[key], kind, fail, key)
        extra = {
            "entry_id": expect(raw.get("entry_id"), int, fail, "entry_id"),
            "history_length": expect(raw.get("history_length", 0), int, fail, "history_length"),
            "metadata": metadata,
        }
        call = GoldCall(name=name, arguments={k: [v] for k, v in params.items()})
        return cls(index, query, instructions, tools, call, parts[1] if len(parts) == 3 else name, extra)

    def sample(self, setting: str) -> Sample:
        return Sample(id=f"{setting}:{self.index}", benchmark=PETOOLBENCH, split=setting,
                      user_id=str(self.extra["entry_id"]), query=self.query, tools=self.tools,
                      gold_platform=self.provider, gold_calls=[self.gold],
                      extra={"instruction": self.instructions[setting], **self.extra})  # fmt: skip
