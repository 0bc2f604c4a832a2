"""Non-LLM baselines, usable on any PTBench-shaped benchmark.

    baseline/random    a random platform, a random API, required parameters guessed at random
    baseline/history   platform: the one the user used most for similar requests (history
                       records sharing words with the query, else the whole scenario's history);
                       API: the most similar name and description; parameters: profile fields
                       matched by name, enum values and numbers found in the query

Like `oracle`, a baseline reads the structured sample its prompt was rendered from (profile
views included), not the prompt text. It answers in text or native mode, as asked.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.errors import BackendError
from pertool.kinds.native_calls import PLATFORM_ARGUMENT
from pertool.models.base import Backend, Completion, Request
from pertool.models.registry import ModelOptions
from pertool.parsing.render import render_ptbench
from pertool.schema import Call, HistoryRecord, Sample, Tool

__all__ = ["BaselineBackend", "create", "words"]

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.:-])-?\d+(?:\.\d+)?(?![\w:-])")
_STOP = frozenset("a an the for to of and or in on at by my me i it is be with from as this that "
                  "please can you would like want need some get".split())  # fmt: skip


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(_CAMEL.sub(" ", text).lower()) if w not in _STOP}


class BaselineBackend:
    name = "baseline"
    cacheable = False  # answers come from the data itself: a cache could only go stale

    def __init__(self, kind: str, samples: Sequence[Sample]):
        self.kind = kind
        self.model = kind
        self._key = AnswerKey(samples)

    def identity(self) -> dict[str, Any]:
        return {"backend": "baseline", "model": self.kind}

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None:
            raise BackendError("baseline: the request matches no sample of the benchmark")
        if self.kind == "random":
            platform, call = _random_answer(sample)
        else:
            platform, call = _history_platform(sample), _fill(sample, _closest_tool(sample))
        if request.tools:
            arguments = json.dumps({**call.arguments, PLATFORM_ARGUMENT: platform})
            return Completion(text="", tool_calls=[{"name": call.name, "arguments": arguments}])
        return Completion(text=render_ptbench(platform, [call]))

    async def aclose(self) -> None:
        pass


# --- random -------------------------------------------------------------------------------


def _random_answer(sample: Sample) -> tuple[str, Call]:
    rng = random.Random(hashlib.sha256(sample.id.encode()).digest())  # same answer every run
    platform = rng.choice(sample.platforms).name if sample.platforms else ""
    if not sample.tools:
        return platform, Call(name="none")
    tool = rng.choice(sample.tools)
    strings = [v for v in sample.profile.basic_features.values() if isinstance(v, str)] or ["unknown"]
    arguments = {}
    for param in tool.function.parameters.get("required", []):
        spec = tool.function.parameters.get("properties", {}).get(param, {})
        if "enum" in spec:
            arguments[param] = rng.choice(spec["enum"])
        elif spec.get("type") in ("integer", "number"):
            arguments[param] = rng.randint(1, 5)
        else:
            arguments[param] = rng.choice(strings)
    return platform, Call(name=tool.name, arguments=arguments)


# --- history ------------------------------------------------------------------------------


def _history_platform(sample: Sample) -> str:
    names = [p.name for p in sample.platforms]
    history = sample.profile.user_history
    records: list[HistoryRecord] = (
        [r for rs in history.values() for r in rs] if isinstance(history, dict) else list(history)
    )
    records = [r for r in records if r.platform in names]
    if not records:
        return names[0] if names else ""
    query = words(sample.query)
    overlap = [(len(query & words(r.action)), r.platform) for r in records]
    best = max(o for o, _ in overlap)
    chosen = [p for o, p in overlap if o == best] if best > 0 else [r.platform for r in records]
    counts = Counter(chosen)
    return max(names, key=lambda n: (counts[n], -names.index(n)))


def _closest_tool(sample: Sample) -> Tool | None:
    query = words(sample.query)

    def similarity(tool: Tool) -> tuple[int, int]:
        return (len(query & words(tool.name)), len(query & words(tool.function.description)))

    return max(sample.tools, key=similarity, default=None)


def _fill(sample: Sample, tool: Tool | None) -> Call:
    if tool is None:
        return Call(name="none")
    properties = tool.function.parameters.get("properties", {})
    numbers = _NUMBER.findall(sample.query)
    features = sample.profile.basic_features
    query = sample.query.lower()
    arguments: dict[str, Any] = {}
    for param in tool.function.parameters.get("required", []):
        spec = properties.get(param, {})
        value = _from_profile(param, spec, features)
        if value is None and "enum" in spec:
            value = next((e for e in spec["enum"] if str(e).lower() in query), None)
        if value is None and spec.get("type") in ("integer", "number") and numbers:
            text = numbers.pop(0)
            value = float(text) if "." in text else int(text)
        if value is not None:
            arguments[param] = value
    return Call(name=tool.name, arguments=arguments)


def _from_profile(param: str, spec: dict[str, Any], features: dict[str, Any]) -> Any:
    """The profile field whose name best matches the parameter's name (then description)."""
    name = words(param)
    described = words(str(spec.get("description", "")))
    best, best_score = None, (0, 0)
    for feature, value in features.items():
        feature_words = words(feature)
        score = (len(name & feature_words), len(described & feature_words))
        if score > best_score:
            best, best_score = value, score
    return best if best_score[0] > 0 else None


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> Backend:
    if rest == "rules":
        from pertool.models import rules_baseline

        return rules_baseline.create(rest, options, samples)
    if rest not in ("random", "history"):
        from pertool.errors import SpecError

        raise SpecError(f"unknown baseline {rest!r}; use baseline/random, baseline/history or baseline/rules")
    return BaselineBackend(rest, samples)
