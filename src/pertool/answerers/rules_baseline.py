"""`baseline/rules`: a rule-induced ToolSpectrum baseline (no language model).

    app and API        the API by naive Bayes over instruction words, each (app, API) seeded
                       with its description words (app desc + camelCase-split API name + API
                       desc) plus training instructions; then the app among those offering that
                       API, adding a one-split context tree's evidence (e.g. Income Level: Tmall
                       vs Pinduoduo), weighted by _CONTEXT_WEIGHT (3, picked among 1-8 on the
                       persona and environment subsets)
    required params    an extractor per (API, param) chosen by its accuracy on training samples:
                       enum values or training values mentioned, quoted strings, identifiers,
                       numbers and counts, coordinates, addresses after cue words, a constant
    personalized and   a shallow tree (depth <= 3; with no split that pays, the best single-field
    environmental      majority map or the global majority) over persona fields (Preferences
    params             words included), environment fields and the API, per parameter, learned
                       with `pertool.learners` (as the shortcut audit does); a parameter is
                       emitted when most training samples of the chosen API carry it
    refusals           each app's policy text is parsed into (who, what) rules: ages ("under
                       18", "minors", "60 years and above"), income ("low-income"), BMI ("BMI
                       greater than 30", "exceeding BMI standards"), amounts ("10,000 RMB",
                       "(<3k)") and topics (e.g.-lists, "high-intensity", ...); the answer is a
                       refusal when the chosen app's policy is violated by the persona and the
                       instruction. No refusal example is learned from.

Training data: k-fold cross-fitting on the evaluated benchmark's own samples (k=5, folds by a
hash of each sample's persona and environment, so samples sharing a context share a fold): a
sample is answered by rules learned only on the other folds of its subset, never on itself.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pertool.answerers.answer_key import AnswerKey
from pertool.answerers.rules_extract import NO_VALUE, ExtractorChoice, tool_properties
from pertool.answerers.rules_policy import policy_of, policy_violations
from pertool.errors import BackendError, SpecError
from pertool.kinds import kind_of
from pertool.kinds.toolspectrum import KIND as TOOLSPECTRUM
from pertool.learners import (
    API_FIELD,
    FeatureSpace,
    Row,
    TreeNode,
    assign_folds,
    context_key,
    learn_tree,
    value_key,
    words,
)
from pertool.models.base import Completion, Request
from pertool.models.registry import ModelOptions
from pertool.parsing.render import render_toolspectrum
from pertool.schema import Call, Sample, Tool
from pertool.values import accepts

__all__ = ["RulesBackend", "create"]

FOLDS = 5
SEED = 0
_DESCRIPTION_WEIGHT = 3  # a description word counts as this many training occurrences
_ALPHA = 0.5  # Laplace smoothing of the naive Bayes word counts
_CONTEXT_WEIGHT = 3.0  # weight of the context tree's evidence on the app, against the words'


# --- the backend --------------------------------------------------------------------------


class RulesBackend:
    cacheable = False  # cheap, and its answers depend on the data: never cached
    name = "baseline"
    model = "rules"

    def __init__(self, samples: Sequence[Sample], *, folds: int = FOLDS, seed: int = SEED,
                 train: Sequence[Sample] | None = None):  # fmt: skip
        others = sorted({s.benchmark for s in [*samples, *(train or ())] if kind_of(s) is not TOOLSPECTRUM})
        if others:  # its rules read app policies, personas and environments
            raise SpecError(f"baseline/rules is for ToolSpectrum, not {', '.join(others)}")
        self.folds, self.seed = folds, seed
        self._key = AnswerKey(samples)
        self._train = list(train) if train is not None else None
        self._fold: dict[str, int] = {}
        self._pool: dict[str, list[Sample]] = {}  # split -> its samples (cross-fitting)
        for split in sorted({s.split for s in samples}):
            pool = [s for s in samples if s.split == split]
            self._pool[split] = pool
            groups = {s.id: context_key(s) for s in pool}
            self._fold.update(assign_folds(groups, folds, seed, groups))
        self._rules: dict[tuple[str, int], _Rules] = {}

    def identity(self) -> dict[str, Any]:
        """What a cached answer is keyed by: includes a fingerprint of the rule code, so that a
        changed rule set never reuses answers cached by an older one."""
        training = "given training samples" if self._train is not None else f"{self.folds}-fold cross-fitting"
        return {"backend": "baseline", "model": "rules", "training": training, "seed": self.seed,
                "code": _code_fingerprint()}  # fmt: skip

    def rules_for(self, sample: Sample) -> _Rules:
        """The rules that answer `sample`: learned on samples outside its fold."""
        if self._train is not None:
            key = ("train", 0)
            if key not in self._rules:
                self._rules[key] = _Rules([s for s in self._train if s.gold_platform is not None])
            return self._rules[key]
        fold = self._fold.get(sample.id, -1)
        key = (sample.split, fold)
        if key not in self._rules:
            train = [s for s in self._pool.get(sample.split, [])
                     if self._fold.get(s.id) != fold and s.gold_platform is not None and s.gold_calls]
            self._rules[key] = _Rules(train)
        return self._rules[key]

    def answer(self, sample: Sample) -> str:
        """The answer text for one sample (a ToolSpectrum answer object)."""
        rules = self.rules_for(sample)
        app, tool = rules.choose(sample)
        if tool is None or app is None:
            return render_toolspectrum(None, [], "no app fits the instruction")
        call = rules.call(sample, tool)
        violated = policy_violations(policy_of(sample, app), sample, call)
        if violated:
            return render_toolspectrum(None, [], f"refused: {app}'s policy forbids it ({violated[0]})")
        return render_toolspectrum(app, [call], "rules learned from other samples (baseline/rules)")

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None:
            raise BackendError("baseline/rules: the request matches no sample of the benchmark")
        return Completion(text=self.answer(sample))

    async def aclose(self) -> None:
        pass


@cache
def _code_fingerprint() -> str:
    """A hash of the rule code: cached answers of an older version are never reused."""
    import pertool.answerers.rules_extract
    import pertool.answerers.rules_policy
    import pertool.learners.features
    import pertool.learners.folds
    import pertool.learners.trees

    digest = hashlib.sha256()
    modules = (pertool.learners.features, pertool.learners.folds, pertool.learners.trees,
               pertool.answerers.rules_extract, pertool.answerers.rules_policy,
               sys.modules[__name__])  # fmt: skip
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:12]


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> RulesBackend:
    if rest != "rules":
        raise SpecError(f"unknown baseline {rest!r}")
    if not samples:
        raise SpecError("baseline/rules learns from the benchmark's samples and was given none")
    train = None
    if options.train:  # learn from another benchmark instead of cross-fitting on this one
        from pertool.kinds import load_benchmark

        train = load_benchmark(options.train, options.data_dir)
    return RulesBackend(samples, train=train)


# --- learned rules ------------------------------------------------------------------------


def _app_of(tool: Tool) -> str:
    return str((tool.model_extra or {}).get("app", ""))



class _Rules:
    """Everything learned from one set of training samples."""

    def __init__(self, train: Sequence[Sample]):
        self.trained_on = frozenset(s.id for s in train)
        self.space = FeatureSpace.fit(train)
        self.fields = self.space.fields()
        self.tools = _ToolChooser(train, self.space)
        # (app, API) and (None, API) -> param -> training samples carrying it; and their counts
        self.carried: dict[tuple[str | None, str], Counter[str]] = {}
        self.api_count: Counter[tuple[str | None, str]] = Counter()
        pooled_rows: dict[str, list[Row]] = {}
        self.extractors = ExtractorChoice()
        for sample in train:
            tool = _gold_tool(sample)
            gold = sample.gold_calls[0]
            for key in ((sample.gold_platform, gold.name), (None, gold.name)):
                self.api_count[key] += 1
                self.carried.setdefault(key, Counter()).update(list(gold.arguments))
            features = self.space.features(sample, gold.name)
            for param, accepted in gold.arguments.items():
                cls = gold.sources.get(param)
                if not accepted:
                    continue
                if cls in ("personalized", "environmental"):
                    row = Row(sample.id, features, value_key(accepted[0]), accepted[0], accepted,
                              context_key(sample))  # fmt: skip
                    pooled_rows.setdefault(param, []).append(row)
                elif cls == "required" and tool is not None:
                    self.extractors.observe(sample, tool, param, accepted)
        self.value_rules: dict[str, TreeNode] = {}
        for param, rows in pooled_rows.items():
            self.value_rules[param] = learn_tree(rows, self.fields)

    def choose(self, sample: Sample) -> tuple[str | None, Tool | None]:
        tool = self.tools.best(sample)
        return (_app_of(tool), tool) if tool is not None else (None, None)

    def emits(self, app: str, api: str, param: str, cls: str) -> bool:
        """Whether the gold of this app's API (else of this API in any app) usually carries it."""
        for key in ((app, api), (None, api)):
            seen = self.api_count.get(key, 0)
            if seen:
                return self.carried[key][param] * 2 > seen
        return cls == "required" or param in self.value_rules

    def call(self, sample: Sample, tool: Tool) -> Call:
        api = tool.name
        features = self.space.features(sample, api)
        arguments: dict[str, Any] = {}
        for param, spec in tool_properties(tool).items():
            cls = spec.get("x-class", "required")
            if not self.emits(_app_of(tool), api, param, cls):
                continue
            if cls == "required":
                value = self.extractors.extract(sample, tool, param)
                if value is not NO_VALUE:
                    arguments[param] = value
            elif param in self.value_rules:
                arguments[param] = self.value_rules[param].predict(features)
            elif "enum" in spec and spec["enum"]:
                arguments[param] = _from_persona(param, spec["enum"], sample)
        return Call(name=api, arguments={k: v for k, v in arguments.items() if v is not NO_VALUE})


def _gold_tool(sample: Sample) -> Tool | None:
    gold = sample.gold_calls[0]
    for tool in sample.tools:
        if tool.name == gold.name and _app_of(tool) == sample.gold_platform:
            return tool
    return None




def _from_persona(param: str, enum: list[Any], sample: Sample) -> Any:
    """An enum value equal to a persona field whose name matches the parameter's, else none."""
    for name, value in sample.profile.basic_features.items():
        if words(param) & words(name) and isinstance(value, str):
            for option in enum:
                if accepts([option], value):
                    return option
    return NO_VALUE


# --- app and API --------------------------------------------------------------------------


class _ToolChooser:
    """Naive Bayes over (app, API) pairs from the instruction's words, each pair seeded with its
    description words; plus, among the apps offering the same API, a shallow tree over the
    context (persona, environment) learned on training samples of that API."""

    def __init__(self, train: Sequence[Sample], space: FeatureSpace):
        self.space = space
        self.counts: dict[tuple[str, str], Counter[str]] = {}
        self.prior: Counter[tuple[str, str]] = Counter()
        rows: dict[str, list[Row]] = {}
        fields = [f for f in space.fields() if f != API_FIELD]
        for sample in train:
            app, api = sample.gold_platform or "", sample.gold_calls[0].name
            self.prior[(app, api)] += 1
            self.counts.setdefault((app, api), Counter()).update(words(sample.query))
            rows.setdefault(api, []).append(Row(sample.id, space.features(sample, api), app, app, [app],
                                                context_key(sample)))  # fmt: skip
        self.context = {api: learn_tree(r, fields, max_depth=1)
                        for api, r in rows.items() if len({x.label for x in r}) > 1}  # fmt: skip

    def best(self, sample: Sample) -> Tool | None:
        apps = {p.name: p for p in sample.platforms}
        query = words(sample.query)
        scored = []
        for tool in sample.tools:
            app = _app_of(tool)
            platform = apps.get(app)
            desc = platform.profile.get("desc", "") if platform and isinstance(platform.profile, dict) else ""
            described = Counter({w: _DESCRIPTION_WEIGHT for w in
                                 words(f"{desc} {tool.name} {tool.function.description}")})  # fmt: skip
            counts = described + self.counts.get((app, tool.name), Counter())
            scored.append((tool, app, counts, self.prior[(app, tool.name)]))
        vocabulary = {w for _, _, counts, _ in scored for w in counts}
        size = len(vocabulary) or 1
        family: Counter[str] = Counter(tool.name for tool, *_ in scored)
        word_score: dict[int, float] = {}
        for i, (_, _, counts, prior) in enumerate(scored):
            total = sum(counts.values())
            score = math.log(prior + 1)
            for word in query & vocabulary:
                score += math.log((counts[word] + _ALPHA) / (total + _ALPHA * size))
            word_score[i] = score
        if not scored:
            return None
        # the API from the words alone; then the app among those offering it, words and context
        best_api = scored[max(word_score, key=lambda i: word_score[i])][0].name
        best, best_score = None, -math.inf
        for i, (tool, app, _, _) in enumerate(scored):
            if tool.name != best_api:
                continue
            score = word_score[i]
            tree = self.context.get(tool.name)
            if tree is not None:
                # how much more likely the app is in this context than overall (log ratio)
                leaf = tree.leaf(self.space.features(sample, tool.name)).counts
                apps_n = family[tool.name]
                in_context = (leaf.get(app, 0) + 1) / (sum(leaf.values()) + apps_n)
                overall = (tree.counts.get(app, 0) + 1) / (sum(tree.counts.values()) + apps_n)
                score += _CONTEXT_WEIGHT * math.log(in_context / overall)
            if score > best_score:
                best, best_score = tool, score
        return best
