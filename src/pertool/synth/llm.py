"""Structured LLM calls for the synthesis stages, through the runner's backends and cache.

`SynthLLM.ask(task, instructions, inputs, Output)` sends the instructions, the inputs as a JSON
block, and the output's JSON schema (as `response_format` where the server supports it; a server
that rejects it is asked again with the schema in the prompt only), validates the answer against
the pydantic model, and on a mismatch asks again with the error (at most `attempts` times). Every
answer goes through the response cache, so a re-run of a finished stage makes zero calls. Calls,
tokens and cost are counted per stage.

The task name (e.g. "tools.platforms") is also the schema's name: `pertool mock-server
--scripted` answers by it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pertool.errors import BackendError
from pertool.models.base import Backend, Completion, Request, Sampling
from pertool.parsing.extract import answer_candidates, balanced_end
from pertool.runner.cache import ResponseCache, cache_key

__all__ = ["StageStats", "SynthLLM", "INPUT_MARKER", "inputs_of"]

T = TypeVar("T", bound=BaseModel)
INPUT_MARKER = "INPUT (JSON):"


@dataclass
class StageStats:
    calls: int = 0  # requests that reached the model (cache hits are not calls)
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "cached": self.cached, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost": round(self.cost, 6),
                "accepted": self.accepted, "rejected": dict(sorted(self.rejected.items()))}  # fmt: skip


class SynthLLM:
    def __init__(self, backend: Backend, cache: ResponseCache | None, sampling: Sampling, *,
                 concurrency: int = 8, prices: dict[str, float] | None = None,
                 attempts: int = 3):  # fmt: skip
        self.backend, self.cache, self.sampling = backend, cache, sampling
        self.prices = prices or {}
        self.attempts = attempts
        self.schema_format = True  # turned off for good if the server rejects response_format
        self._gate = asyncio.Semaphore(max(1, concurrency))

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

    def _cached(self, key: str) -> Completion | None:
        return self.cache.get(key) if self.cache else None

    async def _complete(self, task: str, schema: dict[str, Any], messages: list[dict[str, Any]],
                        stats: StageStats) -> Completion:  # fmt: skip
        fmt = {"type": "json_schema", "json_schema": {"name": task, "schema": schema}}
        request = Request(messages=tuple(messages), sampling=self.sampling,
                          response_format=fmt if self.schema_format else None)  # fmt: skip
        key = cache_key(self.backend.identity(), request)
        cached = self._cached(key)
        if cached is None and self.schema_format:
            # An earlier run may have learnt that this server takes no schema: its answers are
            # cached under the schema-less request.
            plain = Request(messages=tuple(messages), sampling=self.sampling)
            cached = self._cached(cache_key(self.backend.identity(), plain))
            if cached is not None:
                self.schema_format = False
        if cached is not None:
            stats.cached += 1
            return cached
        async with self._gate:
            try:
                completion = await self.backend.complete(request)
            except BackendError as exc:
                if not (self.schema_format and "response_format" in str(exc)):
                    raise
                self.schema_format = False  # the server does not take schemas: prompt only
                return await self._complete(task, schema, messages, stats)
        if self.cache:
            self.cache.put(key, completion)
        stats.calls += 1
        stats.input_tokens += completion.input_tokens
        stats.output_tokens += completion.output_tokens
        stats.cost += (completion.input_tokens * self.prices.get("input", 0.0)
                       + completion.output_tokens * self.prices.get("output", 0.0)) / 1e6  # fmt: skip
        return completion


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
