"""Between a benchmark sample and a backend: the request to send, and the answer to score.

Text mode (default) sends the benchmark's own prompt and parses the text answer. Native mode
sends the tools as `tools=` and maps the returned tool calls back to a platform and calls (the
platform travels in each call's `platform` argument, see `ptbench_prompts.native_tools`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pertool.benchmarks.answer_key import PLATFORM_ARGUMENT
from pertool.benchmarks.ptbench_prompts import chat_messages, native_messages, native_tools, raw_prompt
from pertool.benchmarks.toolspectrum_prompts import toolspectrum_messages
from pertool.models.base import Completion, Request, Sampling
from pertool.models.openai_compat import parse_arguments
from pertool.parsing.ptbench import parse_ptbench
from pertool.parsing.render import render_ptbench, writable_name
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.schema import Call, Prediction, Sample

__all__ = ["MAX_ARGUMENT_DEPTH", "ToolMode", "Task", "native_answer", "native_prediction"]

ToolMode = Literal["text", "native"]
# Deeper argument values are refused in native mode: far beyond any tool's schema, and the
# parser reading the rendered answer back allows about 200 nested brackets in all.
MAX_ARGUMENT_DEPTH = 32


@dataclass(frozen=True)
class Task:
    tool_mode: ToolMode = "text"
    chat_format: str | None = None  # raw-completion format for text-only backends
    sampling: Sampling = Sampling()

    def request(self, sample: Sample) -> Request:
        if sample.benchmark == "toolspectrum":  # its templates are one user message
            return Request(messages=tuple(toolspectrum_messages(sample)), sampling=self.sampling)
        if self.tool_mode == "native":
            return Request(messages=tuple(native_messages(sample)), tools=tuple(native_tools(sample)),
                           sampling=self.sampling)  # fmt: skip
        if self.chat_format:
            return Request(prompt=raw_prompt(sample, self.chat_format), sampling=self.sampling)
        return Request(messages=tuple(chat_messages(sample)), sampling=self.sampling)

    def prediction(self, sample: Sample, completion: Completion) -> Prediction:
        if sample.benchmark == "toolspectrum":
            return parse_toolspectrum(completion.text, sample.id)
        if self.tool_mode == "native":
            return native_prediction(sample.id, completion)
        return parse_ptbench(completion.text, sample.id, [p.name for p in sample.platforms])

    def output_text(self, sample: Sample, completion: Completion) -> str:
        """The `output` written to predictions.jsonl: what `pertool score` will parse. In native
        mode, the tool calls rendered in PTBench's format when they survive the round trip
        (`native_answer`), else the answer's text: eval and a later re-score read the same."""
        text = completion.text if isinstance(completion.text, str) else ""  # an old cache entry
        if self.tool_mode != "native" or sample.benchmark == "toolspectrum":
            return text
        rendered = native_answer(sample.id, completion)[1]
        return rendered if rendered is not None else text


def native_prediction(sample_id: str, completion: Completion) -> Prediction:
    """The tool calls of a native-mode answer as a prediction (a format failure saying why when
    they cannot be one)."""
    return native_answer(sample_id, completion)[0]


def native_answer(sample_id: str, completion: Completion) -> tuple[Prediction, str | None]:
    """(prediction, its PTBench rendering). Never raises: tool calls that are not a PTBench
    answer (no platform, a function name that is not an identifier, NaN, deep nesting, ...)
    are a format failure with no rendering. A rendering is returned only when the parser reads
    it back as exactly these calls, so scoring it later gives the same result."""

    text = completion.text if isinstance(completion.text, str) else ""

    def failed(reason: str) -> tuple[Prediction, None]:
        return Prediction(sample_id=sample_id, raw_output=text, parse_error=reason), None

    if not completion.tool_calls or not isinstance(completion.tool_calls, list):
        return failed("no tool calls in the answer")
    calls, platforms = [], []
    for i, raw in enumerate(completion.tool_calls):
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
