"""Tool calls written in a local model's text, Qwen/Hermes style:
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (hf/ and vllm-batch/ answers)."""

from __future__ import annotations

import re
from typing import Any

from pertool.models.wire import MalformedResponse, load_body

__all__ = ["text_tool_calls"]

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def text_tool_calls(text: str) -> list[dict[str, Any]]:
    calls = []
    for body in _TOOL_CALL.findall(text):
        try:
            call = load_body(body)  # bounded: deep nesting, NaN or a huge integer are not a crash
        except MalformedResponse:
            continue  # left in the text for the answer parser to judge
        if isinstance(call, dict) and "name" in call:
            calls.append({"name": call["name"], "arguments": call.get("arguments", {})})
    return calls
