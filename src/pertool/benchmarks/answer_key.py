"""Find the sample a chat request was rendered from, and its gold answer in either mode.

Used by the `oracle` backend and `pertool mock-server`, which must answer a request with the
right gold without being told the sample id (a real server is not told either).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pertool.benchmarks.ptbench_prompts import chat_messages, native_messages
from pertool.benchmarks.toolspectrum_prompts import toolspectrum_messages
from pertool.parsing.render import gold_as_calls, render_ptbench
from pertool.schema import Call, Sample

__all__ = ["AnswerKey", "gold_text", "gold_tool_calls", "toolspectrum_answer", "PLATFORM_ARGUMENT"]

PLATFORM_ARGUMENT = "platform"


def _key(messages: Iterable[dict[str, Any]]) -> str:
    text = "\x00".join(f"{m.get('role')}:{m.get('content')}" for m in messages)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class AnswerKey:
    """Maps the messages of a rendered prompt (text or native mode) back to its sample."""

    def __init__(self, samples: Sequence[Sample]):
        self._by_key: dict[str, Sample] = {}
        for sample in samples:
            if sample.benchmark == "toolspectrum":
                self._by_key.setdefault(_key(toolspectrum_messages(sample)), sample)
                continue
            self._by_key.setdefault(_key(chat_messages(sample)), sample)
            self._by_key.setdefault(_key(native_messages(sample)), sample)

    def lookup(self, messages: Iterable[dict[str, Any]]) -> Sample | None:
        return self._by_key.get(_key(messages))


def gold_text(sample: Sample) -> str:
    """The gold answer in the benchmark's text format."""
    if sample.benchmark == "toolspectrum":
        return toolspectrum_answer(sample.gold_platform, gold_as_calls(sample.gold_calls))
    return render_ptbench(sample.gold_platform or "", gold_as_calls(sample.gold_calls))


def toolspectrum_answer(app: str | None, calls: Sequence[Call], explanation: str = "") -> str:
    """A ToolSpectrum answer object; `app` None is a refusal."""
    if app is None or not calls:
        return json.dumps({"APP": None, "API": None, "params": None, "explanation": explanation})
    return json.dumps({"APP": app, "API": calls[0].name, "params": calls[0].arguments,
                       "explanation": explanation}, ensure_ascii=False)  # fmt: skip


def gold_tool_calls(sample: Sample) -> list[dict[str, Any]]:
    """The gold answer as native tool calls, the platform carried in each call's arguments."""
    return [
        {"name": call.name,
         "arguments": json.dumps({**call.arguments, PLATFORM_ARGUMENT: sample.gold_platform})}
        for call in gold_as_calls(sample.gold_calls)
    ]  # fmt: skip
