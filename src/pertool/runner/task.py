"""Between a benchmark sample and a backend: the request to send, and the answer to score.

What a sample's prompt is and how an answer parses belong to its benchmark kind
(`pertool.kinds`); a `Task` only holds the answer mode and sampling settings of a run. Text mode
(default) sends the benchmark's own prompt and parses the text answer; native mode sends the
tools as `tools=` and maps the returned tool calls back (kinds whose `tool_modes` include it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pertool.kinds import kind_of
from pertool.models.base import Completion, Request, Sampling
from pertool.schema import Prediction, Sample

__all__ = ["ToolMode", "Task"]

ToolMode = Literal["text", "native"]


@dataclass(frozen=True)
class Task:
    tool_mode: ToolMode = "text"
    chat_format: str | None = None  # raw-completion format for text-only backends
    sampling: Sampling = Sampling()

    def _native(self, sample: Sample) -> bool:
        return self.tool_mode == "native" and "native" in kind_of(sample).tool_modes

    def request(self, sample: Sample) -> Request:
        kind = kind_of(sample)
        if self._native(sample):
            prompt = kind.prompt(sample, "native")
            return Request(messages=prompt.messages, tools=prompt.tools, sampling=self.sampling)
        if self.chat_format and kind.chat_formats:
            return Request(prompt=kind.raw_prompt(sample, self.chat_format), sampling=self.sampling)
        return Request(messages=kind.prompt(sample, "text").messages, sampling=self.sampling)

    def prediction(self, sample: Sample, completion: Completion) -> Prediction:
        if self._native(sample):
            return kind_of(sample).native_prediction(sample, completion.text, completion.tool_calls)[0]
        return kind_of(sample).parse(completion.text, sample)

    def output_text(self, sample: Sample, completion: Completion) -> str:
        """The `output` written to predictions.jsonl: what `pertool score` will parse. In native
        mode, the tool calls rendered in the benchmark's text format when they survive the round
        trip, else the answer's text: eval and a later re-score read the same."""
        text = completion.text if isinstance(completion.text, str) else ""  # an old cache entry
        if not self._native(sample):
            return text
        return kind_of(sample).native_prediction(sample, text, completion.tool_calls)[1]
