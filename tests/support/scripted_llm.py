"""The scripted LLM for the synthesis tests: the one stub server (support/openai_stub.py) answering
each chat request with `pertool.synth.scripted.answer(task, inputs)`, exactly what `pertool
mock-server --scripted` does, and counting what it answered, so a test can prove what was asked
and what was not."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from pertool.synth import scripted
from pertool.synth.llm import inputs_of
from support.openai_stub import Reply, StubRequest, StubServer, chat

__all__ = ["Override", "ScriptedLLM"]

Override = Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any]]


class ScriptedLLM:
    """`override(task, inputs, answer)` feeds bad answers through; `fail_on=(task, n)` fails the
    n-th request of that task (HTTP 400 "scripted failure"); with `fail_after=n` set, every
    request once n were answered fails (HTTP 400 "scripted crash")."""

    def __init__(self, override: Override | None = None, fail_on: tuple[str, int] | None = None,
                 prompt_tokens: int = 10):  # fmt: skip
        self.override, self.fail_on, self.prompt_tokens = override, fail_on, prompt_tokens
        self.fail_after: int | None = None
        self.tasks: Counter[str] = Counter()  # answers per task
        self.contents: Counter[str] = Counter()  # answers per request content (messages)
        self._seen: Counter[str] = Counter()  # requests per task, failed ones included
        self._taken: Counter[str] = Counter()  # answers per task since the last take()
        self._lock = threading.Lock()
        self.server = StubServer(self._respond)
        self.url = self.server.url

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.contents.values())

    def take(self) -> dict[str, int]:
        """Answers per task since the last take."""
        with self._lock:
            out = dict(self._taken)
            self._taken.clear()
        return out

    def reset(self) -> None:
        with self._lock:
            for counter in (self.tasks, self.contents, self._seen, self._taken):
                counter.clear()

    def stop(self) -> None:
        self.server.stop()

    def _respond(self, body: Any, request: StubRequest) -> Reply:
        task, inputs = inputs_of(body["messages"])
        digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
        with self._lock:
            self._seen[task] += 1
            if self.fail_on == (task, self._seen[task]):
                return Reply(400, json={"error": {"message": "scripted failure"}})
            if self.fail_after is not None and sum(self.contents.values()) >= self.fail_after:
                return Reply(400, json={"error": {"message": "scripted crash"}})
            self.tasks[task] += 1
            self._taken[task] += 1
            self.contents[digest] += 1
        answer = scripted.answer(task, inputs)
        if self.override is not None:
            answer = self.override(task, inputs, answer)
        content = json.dumps(answer)
        return Reply(json=chat(content, usage={"prompt_tokens": self.prompt_tokens,
                                               "completion_tokens": len(content) // 4}))
