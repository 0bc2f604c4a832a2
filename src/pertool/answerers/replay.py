"""`replay/<predictions.jsonl>`: answers from an earlier run, matched by prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.errors import BackendError, SpecError
from pertool.models.base import Completion, Request
from pertool.models.registry import ModelOptions
from pertool.predictions import read_predictions
from pertool.schema import Sample


class ReplayBackend:
    name = "replay"

    def __init__(self, path: str, samples: Sequence[Sample]):
        self.model = path
        self._outputs = read_predictions(path).outputs
        self._key = AnswerKey(samples)

    def identity(self) -> dict[str, Any]:
        return {"backend": "replay", "model": self.model}

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None or sample.id not in self._outputs:
            raise BackendError(f"replay: no recorded output for this request in {self.model}")
        return Completion(text=self._outputs[sample.id] or "")

    async def aclose(self) -> None:
        pass


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> ReplayBackend:
    if not rest:
        raise SpecError("replay needs a file: replay/<predictions.jsonl>")
    return ReplayBackend(rest, samples)
