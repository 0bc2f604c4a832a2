"""Find the sample a chat request was rendered from, and its gold answer in either mode.

Used by the answerers (`oracle`, the baselines) and `pertool mock-server`, which must answer a
request with the right gold without being told the sample id (a real server is not told either).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from pertool.kinds import kind_of
from pertool.schema import Sample

__all__ = ["AnswerKey"]


def _key(messages: Iterable[dict[str, Any]]) -> str:
    text = "\x00".join(f"{m.get('role')}:{m.get('content')}" for m in messages)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class AnswerKey:
    """Maps the messages of a rendered prompt (text or native mode) back to its sample."""

    def __init__(self, samples: Sequence[Sample]):
        self._by_key: dict[str, Sample] = {}
        for sample in samples:
            kind = kind_of(sample)
            for mode in kind.tool_modes:
                self._by_key.setdefault(_key(kind.prompt(sample, mode).messages), sample)

    def lookup(self, messages: Iterable[dict[str, Any]]) -> Sample | None:
        return self._by_key.get(_key(messages))
