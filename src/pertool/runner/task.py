"""Between a benchmark sample and a backend: the request to send, and the answer to score.

Text mode (default) sends the benchmark's own prompt and parses the text answer. Native mode
sends the tools as `tools=` and maps the returned tool calls back to a platform and calls (the
platform travels in each call's `platform` argument, see `ptbench_prompts.native_tools`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pertool.benchmarks.answer_key import PLATFORM_ARGUMENT
from pertool.benchmarks.ptbench_prompts import chat_messages, native_messages, native_tools, raw_prompt
from pertool.benchmarks.toolspectrum_prompts import toolspectrum_messages
from pertool.models.base import Completion, Request, Sampling
from pertool.models.openai_compat import parse_arguments
from pertool.parsing.ptbench import parse_ptbench
from pertool.parsing.render import render_ptbench
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.schema import Call, Prediction, Sample

__all__ = ["ToolMode", "Task"]

ToolMode = Literal["text", "native"]


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
        """The `output` written to predictions.jsonl: what `pertool score` will parse."""
        if self.tool_mode != "native" or sample.benchmark == "toolspectrum":
            return completion.text
        prediction = native_prediction(sample.id, completion)
        if prediction.parse_error is not None or prediction.platform is None:
            return completion.text
        return render_ptbench(prediction.platform, prediction.calls)


def native_prediction(sample_id: str, completion: Completion) -> Prediction:
    def failed(reason: str) -> Prediction:
        return Prediction(sample_id=sample_id, raw_output=completion.text, parse_error=reason)

    if not completion.tool_calls:
        return failed("no tool calls in the answer")
    calls, platforms = [], []
    for i, raw in enumerate(completion.tool_calls):
        try:
            arguments = parse_arguments(raw.get("arguments", "{}"))
        except ValueError as exc:
            return failed(f"tool call {i} ({raw.get('name')}): arguments are not a JSON object ({exc})")
        platform = arguments.pop(PLATFORM_ARGUMENT, None)
        if not isinstance(platform, str) or not platform.strip():
            return failed(f"tool call {i} ({raw.get('name')}) has no `platform` argument")
        platforms.append(platform.strip())
        calls.append(Call(name=str(raw.get("name", "")), arguments=arguments))
    if len(set(platforms)) > 1:
        return failed(f"tool calls name different platforms: {sorted(set(platforms))}")
    return Prediction(sample_id=sample_id, raw_output=completion.text, platform=platforms[0], calls=calls)
