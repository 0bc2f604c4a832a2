"""Small PEToolBench files the tests write themselves: entries shaped like the public
`user_entries_test.json` (13 keys, double-encoded candidates, instructions rendered from the
published template's structure), with values chosen to exercise the quirks (a trailing space in
a provider, an emoji provider, numeric-string and empty-string gold values, a repr-list string,
an empty parameter object)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["CANDIDATES", "ENTRIES", "entry", "write_json", "write_zip", "zip_bytes"]

_SENTENCES = {
    "preferred": "These preferences can be inferred from the user's interaction history provided below, "
                 "including past user instructions and corresponding tool calls.",
    "ratings": "These preferences can be inferred from the user's interaction history provided below, including "
               "past user instructions and corresponding tool calls, with user's binary ratings reflecting the "
               "user's satisfaction with the tool calls.",
    "chronological": "These preferences can be inferred from the user's interaction history provided below, "
                     "including past user instructions and corresponding tool calls, which are in chronological "
                     "order where user is more preferred with latter tool calls than earlier ones.",
}  # fmt: skip
_FOOTER = ('\n\nGenerate your tool call in the following format:\n{"tool_name": the tool\'s name, "parameters": '
           'input parameters in JSON string format on a single line}\n\nBegin!\n\n')  # fmt: skip


def _api(category: str, provider: str, api: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    return {"tool_name": f"<{category}>.<{provider}>.<{api}>", "tool_description": f"{api} via {provider}",
            "required_parameters": [{"name": n, "type": t, "description": f"the {n}", "default": ""}
                                    for n, t in params],
            "optional_parameters": [{"name": "lang", "type": "STRING", "description": "", "default": "en"}]}  # fmt: skip


CANDIDATES = [
    _api("Data", "Power BI Smartable", "GetSamples", [("page", "NUMBER")]),
    _api("Data", "PowerBI", "GetSamples", [("page", "NUMBER")]),
    _api("Data", "Github API Scraper ", "Get Repos", [("user", "STRING")]),
    _api("Data", "Leo Github Data Scraper", "Get Repos", [("user", "STRING")]),
    _api("Entertainment", "👋 Demo Project_v12", "Get Products", [("limit", "NUMBER"), ("skip", "NUMBER")]),
    _api("eCommerce", "Kohls", "products/list", [("dimensionValueID", "STRING"), ("limit", "NUMBER")]),
    _api("Weather", "weather.gov", "/alerts/active/area/{area}", [("area", "STRING")]),
    _api("Travel", "flight aggregator", "flight", []),
]


def _meta(api: dict[str, Any]) -> dict[str, Any]:
    category, provider, name = api["tool_name"][1:-1].split(">.<")
    return {"api_name": name, "api_desc": api["tool_description"], "required_parameters": api["required_parameters"],
            "optional_parameters": [], "Example": {"Scenario": "", "Parameters": {}}, "tool_name": provider,
            "tool_desc": "", "category_name": category, "api_id": 900000 + CANDIDATES.index(api)}  # fmt: skip


def entry(index: int, query: str, gold: int, params: dict[str, Any], same: list[int], combo: list[str],
          entry_id: int) -> dict[str, Any]:  # fmt: skip
    """One entry; `gold` and `same` index CANDIDATES; histories use the gold provider."""
    shown = CANDIDATES[index % 3 :] + CANDIDATES[: index % 3]
    tool = CANDIDATES[gold]["tool_name"]
    history = [{"instruction": f"earlier request {k}", "tool_call": {"tool_name": tool, "parameters": {}}}
               for k in range(3)]  # fmt: skip
    rated = [dict(h, rating=1) for h in history]
    instructions = {}
    for setting, sentence in _SENTENCES.items():
        items = rated if setting == "ratings" else history
        instructions[f"instruction_{setting}"] = (
            "\nYour task is to use a tool that not only meets real-time user instructions but also aligns with "
            f"user preferences.\n{sentence}\nInteraction history is:\n{json.dumps(items, ensure_ascii=False)}\n\n"
            "Available tools you can call with input parameters are listed here:\n"
            f"{json.dumps(shown)}{_FOOTER}")  # fmt: skip
    return {"query": query, **instructions, "apis_candidate": json.dumps(shown),
            "api_call_ground_truth": {"tool_name": tool, "parameters": params},
            "api_ground_truth": _meta(CANDIDATES[gold]), "func": str(700 + gold),
            "apis_same_func": [_meta(CANDIDATES[i]) for i in same], "tool_comb": combo,
            "num_tools_combined": str(len(combo)), "history_length": 40 + index, "entry_id": entry_id}  # fmt: skip


ENTRIES = [
    entry(0, "I want Power BI samples from page 1.", 0, {"page": 1}, [0, 1], ["Power BI Smartable", "ComboOnlyA"], 23440),
    entry(1, "List the repositories of octocat.", 2, {"user": "octocat"}, [2, 3], ["Github API Scraper ", "ComboOnlyB"], 31),
    entry(2, "Show 10 demo products.", 4, {"limit": "10", "skip": ""}, [4], ["👋 Demo Project_v12", "ComboOnlyC"], 30040),
    entry(3, "Kohls bedding for teens.", 5, {"dimensionValueID": "['AgeAppropriate:Teens', 'Size:TWIN']", "limit": 5},
          [5], ["Kohls", "ComboOnlyD"], 512),
    entry(4, "Active weather alerts in KS.", 6, {"area": "KS"}, [6], ["weather.gov", "ComboOnlyE"], 77),
    entry(5, "Find me a flight.", 7, {}, [7], ["flight aggregator", "ComboOnlyF"], 78),
]  # fmt: skip


def write_json(directory: Path, entries: list[dict[str, Any]] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "user_entries_test.json"
    path.write_text(json.dumps(ENTRIES if entries is None else entries))
    return path


def zip_bytes(entries: list[dict[str, Any]] | None = None, *, member: str = "user_entries_test.json",
              fork: bool = True) -> bytes:  # fmt: skip
    """The zip as the repository has it: the JSON plus a macOS resource fork to ignore."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if fork:
            archive.writestr("__MACOSX/._user_entries_test.json", b"\0" * 176)
        archive.writestr(member, json.dumps(ENTRIES if entries is None else entries))
    return buffer.getvalue()


def write_zip(directory: Path, data: bytes | None = None) -> tuple[Path, str]:
    """The zip written into `directory`; returns its path and sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "user_entries_test.json.zip"
    path.write_bytes(zip_bytes() if data is None else data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()
