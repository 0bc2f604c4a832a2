"""PTBench answers as native tool calls: the gold answer as `tool_calls`, and a model's tool
calls mapped back to a platform and calls (the platform travels in each call's `platform`
argument, see `ptbench_prompts.native_tools`)."""

from __future__ import annotations

import json
import math
from typing import Any

from pertool.models.wire import parse_arguments
from pertool.parsing.ptbench import parse_ptbench
from pertool.parsing.render import gold_as_calls, render_ptbench, writable_name
from pertool.schema import Call, Prediction, Sample

__all__ = ["MAX_ARGUMENT_DEPTH", "PLATFORM_ARGUMENT", "gold_tool_calls", "native_answer"]

PLATFORM_ARGUMENT = "platform"
# Deeper argument values are refused in native mode: far beyond any tool's schema, and the
# parser reading the rendered answer back allows about 200 nested brackets in all.
MAX_ARGUMENT_DEPTH = 32


def gold_tool_calls(sample: Sample) -> list[dict[str, Any]]:
    """The gold answer as native tool calls, the platform carried in each call's arguments."""
    return [
        {"name": call.name,
         "arguments": json.dumps({**call.arguments, PLATFORM_ARGUMENT: sample.gold_platform})}
        for call in gold_as_calls(sample.gold_calls)
    ]  # fmt: skip


def native_answer(sample_id: str, text: str, tool_calls: Any) -> tuple[Prediction, str | None]:
    """(prediction, its PTBench rendering). Never raises: tool calls that are not a PTBench
    answer (no platform, a function name that is not an identifier, NaN, deep nesting, ...)
    are a format failure with no rendering. A rendering is returned only when the parser reads
    it back as exactly these calls, so scoring it later gives the same result."""

    text = text if isinstance(text, str) else ""

    def failed(reason: str) -> tuple[Prediction, None]:
        return Prediction(sample_id=sample_id, raw_output=text, parse_error=reason), None

    if not tool_calls or not isinstance(tool_calls, list):
        return failed("no tool calls in the answer")
    calls, platforms = [], []
    for i, raw in enumerate(tool_calls):
        raw = raw if isinstance(raw, dict) else {}
        name = raw.get("name")
        label = f"tool call {i} ({name!r})" if isinstance(name, str) else f"tool call {i}"
        if not isinstance(name, str) or not name:
            return failed(f"{label} has no function name")
        if not writable_name(name):
            return failed(f"{label}: the function name is not an identifier")
        try:
            arguments = dict(parse_arguments(raw.get("arguments")))
        except ValueError as exc:
            return failed(f"{label}: {exc}")
        problem = _value_problem(arguments)
        if problem:
            return failed(f"{label}: {problem}")
        platform = arguments.pop(PLATFORM_ARGUMENT, None)
        if not isinstance(platform, str) or not platform.strip():
            return failed(f"{label} has no `platform` argument")
        platforms.append(platform.strip())
        calls.append(Call(name=name, arguments=arguments))
    if len(set(platforms)) > 1:
        return failed(f"tool calls name different platforms: {sorted(set(platforms))}")
    try:
        rendered = render_ptbench(platforms[0], calls)
    except ValueError as exc:  # e.g. an integer too long to write
        return failed(f"the tool calls cannot be written as a PTBench answer ({exc})")
    back = parse_ptbench(rendered, sample_id)
    if back.parse_error is not None or back.platform != platforms[0] or back.calls != calls:
        return failed(f"the tool calls do not survive PTBench's answer format "
                      f"({back.parse_error or 'read back differently'})")  # fmt: skip
    prediction = Prediction(sample_id=sample_id, raw_output=text, platform=platforms[0], calls=calls)
    return prediction, rendered


def _value_problem(value: Any) -> str | None:
    """Why `value` cannot be an argument value (non-finite number, too deep), walking without
    recursion; None when it can."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_ARGUMENT_DEPTH:
            return f"arguments nest deeper than {MAX_ARGUMENT_DEPTH} levels"
        if isinstance(item, float) and not math.isfinite(item):
            return f"argument value {item} is not a finite number"
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return "argument objects need string keys"
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
        elif not (item is None or isinstance(item, (str, int, float))):
            return f"argument value of type {type(item).__name__}"
    return None
