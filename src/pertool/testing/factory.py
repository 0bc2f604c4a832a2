"""PTBench-format records and benchmark files, for tests and benchmark scripts (no dataset needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["record", "write_split_dir"]


def record(
    platform: str = "MegaMart",
    calls: list[tuple[str, dict[str, list[Any]]]] | None = None,
    query_params: list[str] | None = None,
    profile_params: list[str] | None = None,
    query: str = "Order two packs of paper.",
) -> dict[str, Any]:
    calls = calls if calls is not None else [
        ("placeOrder", {"productName": ["paper"], "quantity": [2], "address": ["1 Elm St"]})
    ]
    return {
        "user_profile": {
            "basic_features": {"username": "ann", "home_location": "1 Elm St"},
            "user_history": {"shopping": [{"platform": platform, "action": "bought pens"}]},
        },
        "platforms": [{"name": platform, "profile": {"price": "mid"}}, {"name": "Other", "profile": {}}],
        "tools": [
            {"type": "function", "function": {
                "name": name, "description": f"{name} tool",
                "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in args},
                               "required": list(args)}}}
            for name, args in calls
        ],
        "query": query,
        "answer": [platform, [{name: args} for name, args in calls]],
        "query_params": query_params if query_params is not None else ["productName", "quantity"],
        "profile_params": profile_params if profile_params is not None else ["address"],
    }


def write_split_dir(root: Path, trained: list[dict], untrained: list[dict]) -> Path:
    for dirname, records in (("test_trained_user", trained), ("test_untrained_user", untrained)):
        if records:
            (root / dirname).mkdir(parents=True, exist_ok=True)
            (root / dirname / "data.json").write_text(json.dumps(records))
    return root
