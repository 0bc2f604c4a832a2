"""`oracle`: answers every request with the gold answer of its sample (a sanity check: a run
with it must score 1.0 everywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.errors import BackendError
from pertool.kinds import kind_of
from pertool.models.base import Completion, Request
from pertool.models.registry import ModelOptions
from pertool.schema import Sample


class OracleBackend:
    name = "oracle"
    model = "oracle"
    cacheable = False  # answers come from the data itself: a cache could only go stale

    def __init__(self, samples: Sequence[Sample]):
        self._key = AnswerKey(samples)

    def identity(self) -> dict[str, Any]:
        return {"backend": "oracle"}

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None:
            raise BackendError("oracle: the request matches no sample of the benchmark")
        if request.tools:
            return Completion(text="", tool_calls=kind_of(sample).gold_tool_calls(sample))
        return Completion(text=kind_of(sample).gold_text(sample))

    async def aclose(self) -> None:
        pass


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> OracleBackend:
    return OracleBackend(samples)
