"""Structured LLM calls for the synthesis stages, through the backends and `CachedCalls`.

`SynthLLM.ask(task, instructions, inputs, Output)` sends the instructions, the inputs as a JSON
block, and the output's JSON schema (as `response_format` where the server supports it; a server
that rejects it is asked again with the schema in the prompt only), validates the answer against
the pydantic model, and on a mismatch asks again with the error (at most `attempts` times). Every
answer goes through the response cache (`pertool.modelcalls`, the path `pertool eval` takes too),
so a re-run of a finished stage makes zero calls. Calls, tokens and cost are counted per stage,
in the stage's `StageStats` (a `Usage` with the stage's accepted and rejected records).

The task name (e.g. "tools.platforms") is also the schema's name: `pertool mock-server
--scripted` answers by it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pertool.errors import BackendError
from pertool.modelcalls import CachedCalls, ResponseCache, Usage
from pertool.models.base import Backend, Completion, Request, Sampling
from pertool.parsing.extract import answer_candidates, balanced_end

__all__ = ["StageStats", "SynthLLM", "INPUT_MARKER", "inputs_of"]

T = TypeVar("T", bound=BaseModel)
INPUT_MARKER = "INPUT (JSON):"


@dataclass
class StageStats(Usage):
    """A stage's counters: its model calls (`Usage`) and the records it accepted and rejected."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {**self.stage_json(), "accepted": self.accepted,
                "rejected": dict(sorted(self.rejected.items()))}  # fmt: skip

    @classmethod
    def resumed(cls, counts: Mapping[str, Any]) -> StageStats:
        """The counters summary.json holds for a stage (checked on reading), to add to."""
        stats = cls(accepted=counts.get("accepted", 0), rejected=Counter(counts.get("rejected", {})))
        stats.resume_stage(counts)
        return stats


class SynthLLM:
    def __init__(self, backend: Backend, cache: ResponseCache | None, sampling: Sampling, *,
                 concurrency: int = 8, prices: dict[str, float] | None = None,
                 attempts: int = 3):  # fmt: skip
        self.sampling, self.attempts = sampling, attempts
        self.calls = CachedCalls(backend, cache, prices=prices, concurrency=max(1, concurrency))
        self.schema_format = True  # turned off for good if the server rejects response_format

    async def ask(self, task: str, instructions: str, inputs: dict[str, Any], output: type[T],
                  stats: StageStats) -> T | None:  # fmt: skip
        """The validated answer, or None (counted as rejected "invalid_output") after `attempts`."""
        schema = output.model_json_schema()
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are one stage of a data-synthesis pipeline. Reply with "
             f"one JSON object matching this JSON schema, and nothing else:\n{json.dumps(schema)}"},
            {"role": "user", "content": f"{instructions}\n\nTASK: {task}\n{INPUT_MARKER}\n"
             f"{json.dumps(inputs, ensure_ascii=False, sort_keys=True)}"},
        ]  # fmt: skip
        for _ in range(self.attempts):
            completion = await self._complete(task, schema, messages, stats)
            try:
                return output.model_validate_json(_json_text(completion.text))
            except (ValidationError, ValueError) as exc:
                problem = str(exc).splitlines()[0][:300]
                messages = [*messages, {"role": "assistant", "content": completion.text},
                            {"role": "user", "content": f"That does not match the schema ({problem}). "
                             "Reply again with only the corrected JSON object."}]  # fmt: skip
        stats.rejected["invalid_output"] += 1
        return None

    async def _complete(self, task: str, schema: dict[str, Any], messages: list[dict[str, Any]],
                        stats: StageStats) -> Completion:  # fmt: skip
        fmt = {"type": "json_schema", "json_schema": {"name": task, "schema": schema}}
        request = Request(messages=tuple(messages), sampling=self.sampling,
                          response_format=fmt if self.schema_format else None)  # fmt: skip
        if self.schema_format and not self.calls.in_cache(request):
            # An earlier run may have learnt that this server takes no schema: its answers are
            # cached under the schema-less request.
            plain = Request(messages=tuple(messages), sampling=self.sampling)
            if self.calls.in_cache(plain):
                self.schema_format, request = False, plain
        try:
            return await self.calls.complete(request, usage=stats)
        except BackendError as exc:
            if not (request.response_format is not None and "response_format" in str(exc)):
                raise
            self.schema_format = False  # the server does not take schemas: prompt only
            return await self._complete(task, schema, messages, stats)


def _json_text(text: str) -> str:
    """The JSON object in an answer (fences and prose around it tolerated)."""
    for candidate in answer_candidates(text):
        start = candidate.find("{")
        end = balanced_end(candidate, start) if start >= 0 else None
        if end is not None:
            return candidate[start : end + 1]
    return text


def inputs_of(messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(task, inputs) of a synthesis request, as `pertool mock-server --scripted` reads them."""
    content = str(messages[1].get("content", "")) if len(messages) > 1 else ""
    task = content.split("TASK: ", 1)[1].split("\n", 1)[0] if "TASK: " in content else ""
    payload = content.split(INPUT_MARKER, 1)[1] if INPUT_MARKER in content else "{}"
    return task, json.loads(payload)
