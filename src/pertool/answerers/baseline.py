"""Non-LLM baselines.

    baseline/random    every kind: a random platform, a random tool, its required parameters
                       guessed at random (enum values, small numbers, profile strings)
    baseline/history   PTBench-shaped samples: platform: the one the user used most for similar
                       requests (history records sharing words with the query, else the whole
                       scenario's history); API: the most similar name and description;
                       parameters: profile fields matched by name, enum values and numbers
                       found in the query
    baseline/rules     ToolSpectrum: rules induced from the other samples (`rules_baseline.py`)

Like `oracle`, a baseline reads the structured sample its prompt was rendered from (profile
views included), not the prompt text. A baseline picks a platform and calls; the sample's kind
writes them as its answer (its `gold_text`, or `gold_tool_calls` in native mode, of the sample
with that answer as its gold), so a baseline holds no answer format of its own.

Which baselines serve which kind is `PER_KIND` (kind object -> name -> answer function); a new
kind adds one entry. `random` serves every kind without an entry of its own.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.answerers.petoolbench_baseline import history_answer as petoolbench_history
from pertool.errors import BackendError, SpecError
from pertool.kinds import BenchmarkKind, kind_of
from pertool.kinds.petoolbench import KIND as PETOOLBENCH
from pertool.kinds.ptbench import KIND as PTBENCH
from pertool.learners import words
from pertool.models.base import Backend, Completion, Request
from pertool.models.registry import ModelOptions
from pertool.schema import Call, GoldCall, HistoryRecord, Sample, Tool

__all__ = ["PER_KIND", "Answer", "BaselineBackend", "create", "random_answer"]

# What a baseline answers for one sample: the platform and the calls.
Answer = tuple[str | None, list[Call]]
AnswerFunction = Callable[[Sample], Answer]

_NUMBER = re.compile(r"(?<![\w.:-])-?\d+(?:\.\d+)?(?![\w:-])")


class BaselineBackend:
    name = "baseline"
    cacheable = False  # answers come from the data itself: a cache could only go stale

    def __init__(self, baseline: str, samples: Sequence[Sample]):
        self.baseline = baseline
        self.model = baseline
        self._key = AnswerKey(samples)
        self._answer = {kind: answer_function(kind, baseline) for kind in {kind_of(s) for s in samples}}

    def identity(self) -> dict[str, Any]:
        return {"backend": "baseline", "model": self.baseline}

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None:
            raise BackendError("baseline: the request matches no sample of the benchmark")
        kind = kind_of(sample)
        platform, calls = self._answer[kind](sample)
        answered = as_gold(sample, platform, calls)
        if request.tools:
            return Completion(text="", tool_calls=kind.gold_tool_calls(answered))
        return Completion(text=kind.gold_text(answered))

    async def aclose(self) -> None:
        pass


def as_gold(sample: Sample, platform: str | None, calls: Sequence[Call]) -> Sample:
    """The sample with `platform` and `calls` as its gold: what its kind renders as the answer."""
    gold = [GoldCall(name=c.name, arguments={k: [v] for k, v in c.arguments.items()}) for c in calls]
    return sample.model_copy(update={"gold_platform": platform, "gold_calls": gold})


def answer_function(kind: BenchmarkKind, baseline: str) -> AnswerFunction:
    """The function that answers `kind`'s samples as `baseline`; SpecError when none serves it."""
    own = PER_KIND.get(kind, {})
    if baseline in own:
        return own[baseline]
    if baseline == "random":
        return random_answer
    usable = ", ".join("baseline/" + name for name in sorted({"random", *own}))
    raise SpecError(f"baseline/{baseline} does not answer {kind.name} samples; for them use {usable}")


# --- random (every kind) ------------------------------------------------------------------


def random_answer(sample: Sample) -> Answer:
    """A random platform and one random tool with random required arguments (the same answer
    every run: seeded by the sample id)."""
    rng = random.Random(hashlib.sha256(sample.id.encode()).digest())
    platform = rng.choice(sample.platforms).name if sample.platforms else ""
    if not sample.tools:
        return platform, [Call(name="none")]
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
    return platform, [Call(name=tool.name, arguments=arguments)]


# --- history (PTBench-shaped) ------------------------------------------------------------


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


def history_answer(sample: Sample) -> Answer:
    return _history_platform(sample), [_fill(sample, _closest_tool(sample))]


# Baselines a kind serves beyond `random` (kind object -> baseline name -> answer function).
PER_KIND: Mapping[BenchmarkKind, Mapping[str, AnswerFunction]] = {
    PTBENCH: {"random": random_answer, "history": history_answer},
    PETOOLBENCH: {"random": random_answer, "history": petoolbench_history},
}


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> Backend:
    if rest == "rules":
        from pertool.answerers import rules_baseline

        return rules_baseline.create(rest, options, samples)
    if rest not in {"random", *(name for functions in PER_KIND.values() for name in functions)}:
        raise SpecError(f"unknown baseline {rest!r}; use baseline/random, baseline/history or baseline/rules")
    return BaselineBackend(rest, samples)
