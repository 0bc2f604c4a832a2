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
                       as in `pertool.audit`; a parameter is emitted when most training samples
                       of the chosen API carry it
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
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pertool.audit import (
    API_FIELD,
    FeatureSpace,
    Row,
    TreeNode,
    assign_folds,
    context_key,
    learn_tree,
    value_key,
)
from pertool.benchmarks.answer_key import AnswerKey, toolspectrum_answer
from pertool.errors import SpecError
from pertool.models.base import BackendError, Completion, Request
from pertool.models.baseline import words
from pertool.models.registry import ModelOptions
from pertool.schema import Call, Sample, Tool
from pertool.values import accepts

__all__ = ["RulesBackend", "PolicyRule", "create", "parse_policy", "policy_violations"]

FOLDS = 5
SEED = 0
_DESCRIPTION_WEIGHT = 3  # a description word counts as this many training occurrences
_ALPHA = 0.5  # Laplace smoothing of the naive Bayes word counts
_CONTEXT_WEIGHT = 3.0  # weight of the context tree's evidence on the app, against the words'


# --- the backend --------------------------------------------------------------------------


class RulesBackend:
    name = "baseline"
    model = "rules"

    def __init__(self, samples: Sequence[Sample], *, folds: int = FOLDS, seed: int = SEED,
                 train: Sequence[Sample] | None = None):  # fmt: skip
        others = sorted({s.benchmark for s in samples if s.benchmark != "toolspectrum"})
        if others or (train and any(s.benchmark != "toolspectrum" for s in train)):
            named = ", ".join(others) or "this benchmark"
            raise SpecError(f"baseline/rules is for ToolSpectrum, not {named}")
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
            return toolspectrum_answer(None, [], "no app fits the instruction")
        call = rules.call(sample, tool)
        violated = policy_violations(_policy_of(sample, app), sample, call)
        if violated:
            return toolspectrum_answer(None, [], f"refused: {app}'s policy forbids it ({violated[0]})")
        return toolspectrum_answer(app, [call], "rules learned from other samples (baseline/rules)")

    async def complete(self, request: Request) -> Completion:
        sample = self._key.lookup(request.messages)
        if sample is None:
            raise BackendError("baseline/rules: the request matches no sample of the benchmark")
        return Completion(text=self.answer(sample))

    async def aclose(self) -> None:
        pass


@cache
def _code_fingerprint() -> str:
    import pertool.audit

    digest = hashlib.sha256()
    for module in (pertool.audit, sys.modules[__name__]):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:12]


def create(rest: str, options: ModelOptions, samples: Sequence[Sample]) -> RulesBackend:
    if rest != "rules":
        raise SpecError(f"unknown baseline {rest!r}")
    if not samples:
        raise SpecError("baseline/rules learns from the benchmark's samples and was given none")
    return RulesBackend(samples)


# --- learned rules ------------------------------------------------------------------------


def _app_of(tool: Tool) -> str:
    return str((tool.model_extra or {}).get("app", ""))


def _properties(tool: Tool) -> dict[str, Any]:
    props = tool.function.parameters.get("properties", {})
    return props if isinstance(props, dict) else {}


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
        self.extractors = _ExtractorChoice()
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
        for param, spec in _properties(tool).items():
            cls = spec.get("x-class", "required")
            if not self.emits(_app_of(tool), api, param, cls):
                continue
            if cls == "required":
                value = self.extractors.extract(sample, tool, param)
                if value is not _NONE:
                    arguments[param] = value
            elif param in self.value_rules:
                arguments[param] = self.value_rules[param].predict(features)
            elif "enum" in spec and spec["enum"]:
                arguments[param] = _from_persona(param, spec["enum"], sample)
        return Call(name=api, arguments={k: v for k, v in arguments.items() if v is not _NONE})


def _gold_tool(sample: Sample) -> Tool | None:
    gold = sample.gold_calls[0]
    for tool in sample.tools:
        if tool.name == gold.name and _app_of(tool) == sample.gold_platform:
            return tool
    return None


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


_NONE: Any = _NoValue()


def _from_persona(param: str, enum: list[Any], sample: Sample) -> Any:
    """An enum value equal to a persona field whose name matches the parameter's, else none."""
    for name, value in sample.profile.basic_features.items():
        if words(param) & words(name) and isinstance(value, str):
            for option in enum:
                if accepts([option], value):
                    return option
    return _NONE


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


# --- required parameters ------------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "single": 1, "a pair of": 2, "couple of": 2}  # fmt: skip
_NUMBER = re.compile(r"(?<![\w.:/-])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w:/]|-\d)")
_COUNT = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r"|an?)\s+(?!minutes?\b|hours?\b|kg\b|pounds?\b)"
                    r"(?:[a-z-]+\s+){0,3}?(?:tickets?|items?|pieces?|packs?|units?|bottles?|boxes?|books?|"
                    r"people|persons?|guests?|shares?|copies|pairs?|bags?|sets?|seats?|[a-z]+s)\b", re.I)
_QUOTED = re.compile(r"[\"“']([^\"”']{2,}?)[.,]?[\"”'](?!\w)")
_IDENT = re.compile(r"\b[A-Za-z]+_\d+\b")
_COORDS = re.compile(r"-?\d{1,3}\.\d+\s*,\s*-?\d{1,3}\.\d+")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
_DIMENSIONS = re.compile(r"\d+(?:\.\d+)?\s*[x×*]\s*\d+(?:\.\d+)?\s*[x×*]\s*\d+(?:\.\d+)?")
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|kilograms?|pounds?|lbs?|g)\b", re.I)
_END = r"(?=\s*(?:[.?!;](?:\s+[A-Z(]|\s*$)|\?|$|,?\s+(?:and|on|at|for|with|using|departing|by|so|which|" \
       r"then|before|after|in order|via|to pick|to drop|could|can|please|how|I'?ll|I)\b))"
_CUES = {"from": r"\bfrom\s+", "to": r"\bto\s+(?:the same location\b)?", "at": r"\bat\s+", "in": r"\bin\s+",
         "off_at": r"\b(?:drop(?:\s+it)?\s+off|dropoff|drop-off)\s+(?:at|in)\s+",
         "up_at": r"\bpick(?:\s+it)?\s*(?:-|\s)?up\s+(?:at|in|from)\s+",
         "ship_to": r"\b(?:shipped|ship|deliver(?:ed)?|send)\s+(?:it\s+|them\s+)?to\s+",
         "located": r"\blocated\s+(?:at|in)\s+"}  # fmt: skip


def _number(text: str) -> int | float:
    text = text.replace(",", "")
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _numbers(query: str) -> list[int | float]:
    masked = _COORDS.sub(" ", _ISO.sub(" ", _IDENT.sub(" ", query)))
    return [_number(m) for m in _NUMBER.findall(masked)]


def _after(query: str, cue: str) -> Any:
    match = re.search(_CUES[cue] + r"(.+?)" + _END, query)
    if not match:
        return _NONE
    span = match.group(1).strip(" ,.")
    if cue == "from":
        span = re.split(r"\s+to\s+", span)[0].strip(" ,.")
    return span if len(span) > 1 else _NONE


def _mentioned(query: str, options: Iterable[Any]) -> Any:
    """The longest option mentioned in the query (as whole words, case-insensitively)."""
    lowered = query.lower()
    best: Any = _NONE
    best_len = 0
    for option in options:
        text = str(option).strip().lower()
        if len(text) < 2 or len(text) <= best_len:
            continue
        variants = {text, text.replace("_", " "), text.rstrip("s")}
        if any(re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", lowered) for v in variants if len(v) > 1):
            best, best_len = option, len(text)
    return best


def _mentioned_all(query: str, options: Iterable[Any]) -> Any:
    lowered = query.lower()
    found = []
    for option in options:
        text = str(option).strip().lower()
        for variant in {text, text.replace("_", " ")}:
            where = re.search(r"(?<!\w)" + re.escape(variant) + r"(?!\w)", lowered)
            if where and len(variant) > 1:
                found.append((where.start(), option))
                break
    return [o for _, o in sorted(found, key=lambda t: t[0])] if found else _NONE


def _count(query: str) -> Any:
    match = _COUNT.search(query)
    if not match:
        return _NONE
    token = match.group(1).lower()
    if token in ("a", "an"):
        return 1
    return _NUMBER_WORDS.get(token) or _number(token)


def _package(query: str) -> Any:
    dims, weight = _DIMENSIONS.search(query), _WEIGHT.search(query)
    if not dims and not weight:
        return _NONE
    out: dict[str, Any] = {}
    if weight:
        kilograms = weight.group(2).lower().startswith("k")
        out["weight"] = _number(weight.group(1)) if kilograms else weight.group(0)
    if dims:
        out["dimensions"] = re.sub(r"\s*[×*]\s*|\s*x\s*", "x", dims.group(0))
    return out


def _extract(kind: str, query: str, spec: dict[str, Any], seen: Sequence[Any], constant: Any) -> Any:
    """The value one extractor reads from the instruction (`_NONE` where it finds nothing)."""
    if kind == "enum":
        return _mentioned(query, spec.get("enum") or [])
    if kind == "seen":
        return _mentioned(query, [v for v in seen if isinstance(v, str)])
    if kind == "seen_list":
        elements = {e for v in seen if isinstance(v, list) for e in v if isinstance(e, str)}
        return _mentioned_all(query, sorted(elements))
    if kind == "quoted":
        match = _QUOTED.search(query)
        return match.group(1).strip() if match else _NONE
    if kind == "ident":
        match = _IDENT.search(query)
        return match.group(0) if match else _NONE
    if kind == "coords":
        match = _COORDS.search(query)
        return match.group(0) if match else _NONE
    if kind == "iso":
        match = _ISO.search(query)
        return match.group(0) if match else _NONE
    if kind in ("number", "number2", "number_last"):
        numbers = _numbers(query)
        index = {"number": 0, "number2": 1, "number_last": -1}[kind]
        return numbers[index] if len(numbers) > max(index, 0) or (index == -1 and numbers) else _NONE
    if kind == "count":
        return _count(query)
    if kind == "count_or_1":
        found = _count(query)
        return 1 if found is _NONE else found
    if kind == "package":
        return _package(query)
    if kind == "constant":
        return constant
    if kind.startswith("after_"):
        return _after(query, kind[len("after_"):])
    raise ValueError(kind)


_KINDS = ("enum", "seen", "seen_list", "quoted", "ident", "coords", "iso", "count", "count_or_1", "number",
          "number2", "number_last", "package", *(f"after_{c}" for c in _CUES), "constant")  # fmt: skip


class _ExtractorChoice:
    """Per (API, param) and per param: how often each extractor reads the gold value."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], Counter[str]] = {}  # extractor read the gold value
        self.fired: dict[tuple[str, str], Counter[str]] = {}  # extractor read some value
        self.seen: dict[str, list[Any]] = {}
        self.values: dict[tuple[str, str], Counter[str]] = {}
        self.examples: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending: list[tuple[Sample, Tool, str, Sequence[Any]]] = []
        self._done = False

    def observe(self, sample: Sample, tool: Tool, param: str, accepted: Sequence[Any]) -> None:
        self._pending.append((sample, tool, param, accepted))
        self.seen.setdefault(param, []).append(accepted[0])
        key = (tool.name, param)
        self.values.setdefault(key, Counter())[value_key(accepted[0])] += 1
        self.examples.setdefault(key, {}).setdefault(value_key(accepted[0]), accepted[0])

    def _constant(self, api: str, param: str) -> Any:
        counts = self.values.get((api, param))
        if not counts:
            return _NONE
        top = max(counts.values())
        return self.examples[(api, param)][min(k for k, c in counts.items() if c == top)]

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        for sample, tool, param, accepted in self._pending:
            spec = _properties(tool).get(param, {})
            # the sample's own value must not help read it: leave it out of `seen` and `constant`
            seen = list(self.seen.get(param, []))
            if accepted[0] in seen:
                seen.remove(accepted[0])
            constant = self._constant_without(tool.name, param, accepted[0])
            for kind in _KINDS:
                value = _extract(kind, sample.query, spec, seen, constant)
                hit = value is not _NONE and accepts(accepted, value)
                for key in ((tool.name, param), ("*", param)):
                    self.hits.setdefault(key, Counter())[kind] += hit
                    self.fired.setdefault(key, Counter())[kind] += value is not _NONE
        self._pending = []

    def _constant_without(self, api: str, param: str, value: Any) -> Any:
        counts = Counter(self.values.get((api, param), Counter()))
        counts[value_key(value)] -= 1
        counts = Counter({k: c for k, c in counts.items() if c > 0})
        if not counts:
            return _NONE
        top = max(counts.values())
        return self.examples[(api, param)][min(k for k, c in counts.items() if c == top)]

    def kinds(self, api: str, param: str, spec: dict[str, Any]) -> list[str]:
        """Extractors to try in turn: the one reading most training values first, then any other
        that is right at least half the times it reads something; else a guess by type."""
        self._finish()
        for key in ((api, param), ("*", param)):
            hits, fired = self.hits.get(key, Counter()), self.fired.get(key, Counter())
            if hits and max(hits.values()) > 0:
                ranked = sorted((k for k in _KINDS if hits[k] > 0), key=lambda k: (-hits[k], _KINDS.index(k)))
                return ranked[:1] + [k for k in ranked[1:] if hits[k] * 2 >= fired[k]]
        if "enum" in spec:
            return ["enum"]
        if spec.get("type") in ("integer", "number"):
            return ["count" if "count" in param.lower() else "number"]
        return ["quoted"] if spec.get("type") == "string" else []

    def extract(self, sample: Sample, tool: Tool, param: str) -> Any:
        spec = _properties(tool).get(param, {})
        seen, constant = self.seen.get(param, []), self._constant(tool.name, param)
        for kind in self.kinds(tool.name, param, spec):
            value = _extract(kind, sample.query, spec, seen, constant)
            if value is not _NONE:
                return value
        return _NONE


# --- policies and refusals ----------------------------------------------------------------

_INCOME = re.compile(r"([<>])?\s*(\d+(?:\.\d+)?)\s*(k)?(?:\s*-\s*(\d+(?:\.\d+)?)\s*(k)?)?", re.I)
_MONEY_CUE = re.compile(
    r"(?:[¥$€£]\s*|\b(?:rmb|cny|yuan|usd)\s*)(\d[\d,]*(?:\.\d+)?\s*k?)|(\d[\d,]*(?:\.\d+)?\s*k?)\s*(?:rmb|cny|yuan|"
    r"dollars|usd|元)\b|\b(?:worth|costs?|costing|priced at|price of|budget of|invest(?:ing)?|spend(?:ing)?|"
    r"over|above|exceeding|more than|amount of)\s+(?:[¥$€£]\s*)?(\d[\d,]*(?:\.\d+)?\s*k?)|"
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\w,])",
    re.I,
)
_AMOUNT_PARAMS = ("amount", "price", "budget", "cost", "value", "total")
_SYNONYMS = {
    "high-intensity": ("intens", "hiit", "sprint", "crossfit", "vigorous", "strenuous", "heavy"),
    "high-sugar": ("sugar", "sweet", "candy", "candies", "dessert", "cake", "chocolate", "soda"),
    "high-fat": ("fat", "fried", "bacon", "fries", "lard", "greasy"),
    "red meat": ("red meat", "beef", "pork", "lamb", "mutton", "steak"),
    "high-value": ("luxury", "expensive", "premium", "designer"),
    "high-risk": ("risk",),
    "luxury goods": ("luxury",),
    "adult": ("adult", "18+", "explicit", "erotic"),
    "violent": ("violen", "horror", "gore", "bloody", "war game"),
    "political": ("politic", "election", "government"),
    "politics": ("politic", "election", "government"),
    "finance": ("financ", "stock", "invest", "trading"),
    "flight tickets": ("flight", "fly", "plane", "airline"),
    "train tickets": ("train",),
    "intercity": ("intercity",),
    "long-distance": ("long-distance", "long distance"),
}
_GENERIC = frozenset("content news topics topic similar goods products items item certain etc foods food "
                     "exercise exercises courses course paid in-depth sensitive or and the other such as "
                     "e.g. games movies tickets transportation".split())  # fmt: skip


_STOPWORDS = frozenset("for with from that this are not any all their them they its into can will must "
                       "users user who whose".split())


@dataclass(frozen=True)
class PolicyRule:
    """One policy rule, parsed: who it applies to and what it forbids them."""

    text: str
    max_age: float | None = None  # applies to users younger than this
    min_age: float | None = None  # applies to users this old or older
    low_income: bool = False
    min_bmi: float | None = None  # applies from this BMI on
    amount_over: float | None = None  # forbids amounts above this
    topics: tuple[str, ...] = ()  # forbids instructions mentioning one of these (stems)
    only_topics: tuple[str, ...] = ()  # allows only instructions mentioning one of these
    purchase_only: bool = False  # only purchasing / investing / booking APIs are concerned
    api_words: tuple[str, ...] = ()  # the API name mentions one of these objects (e.g. ticket)
    everything: bool = False  # "not allowed to make any investments"

    @property
    def has_subject(self) -> bool:
        ages = self.max_age is not None or self.min_age is not None
        return ages or self.low_income or self.min_bmi is not None


def _money(text: str) -> float:
    text = text.strip().lower().replace(",", "")
    factor = 1000.0 if text.endswith("k") else 1.0
    return float(text.rstrip("k").strip()) * factor


def _stems(phrase: str) -> tuple[str, ...]:
    phrase = phrase.strip(" .,;:()").lower()
    phrase = re.sub(r"^(?:e\.g\.,?|such as|like|or|and)\s+", "", phrase).strip()
    if not phrase or phrase in _GENERIC:
        return ()
    if phrase in _SYNONYMS:
        return _SYNONYMS[phrase]
    kept = [w for w in re.findall(r"[a-z0-9+-]+", phrase) if w not in _GENERIC and w not in _STOPWORDS
            and len(w) > 2 and not w.isdigit()]
    out: list[str] = []
    for word in kept:
        out.extend(_SYNONYMS.get(word, (word[:6] if len(word) > 6 else word,)))
    return tuple(out)


def _topic_list(text: str) -> list[str]:
    """Phrases a rule names as forbidden: e.g.-lists (except those describing the users, as in
    "users with higher body weight (e.g., exceeding BMI standards)"), 'related to A, B, or C',
    'access A, B, or C', and 'high-...' terms."""
    phrases: list[str] = []
    for match in re.finditer(r"\(e\.g\.,?\s*([^)]*)\)", text):
        before = text[max(0, match.start() - 40) : match.start()]
        if not re.search(r"\b(users?|weight|conditions?|health|ages?)\s*$", before):
            phrases.extend(re.split(r",|\bor\b|\band\b", match.group(1)))
    for match in re.finditer(r"\b(?:related to|accessing|access)\s+([^.()]*)", text):
        phrases.extend(re.split(r",|\bor\b|\band\b", match.group(1)))
    phrases.extend(t for t in re.findall(r"\bhigh-[a-z]+", text) if t != "high-income")
    return phrases


def parse_policy(policy: Any) -> list[PolicyRule]:
    """An app's policy (a list of rule strings, or one string) parsed into rules."""
    texts = policy if isinstance(policy, list) else re.split(r"(?<=\.)\s+(?=[A-Z])", str(policy or ""))
    rules = []
    for raw in texts:
        text = str(raw).strip()
        if not text:
            continue
        low = text.lower()
        fields: dict[str, Any] = {"text": text}
        under = re.search(r"\b(?:under|below|younger than)\s+(?:the\s+age\s+of\s+)?(\d+)", low)
        if under:
            fields["max_age"] = float(under.group(1))
        elif re.search(r"\b(minors?|teens?|teenagers?|underage)\b", low):
            fields["max_age"] = 18.0
        elder = re.search(r"(\d+)\s*(?:years?(?:\s+old)?\s+)?(?:and|or)\s+(?:above|over|older)", low)
        if elder:
            fields["min_age"] = float(elder.group(1))
        elif re.search(r"\belderly\b|\bseniors?\b", low):
            fields["min_age"] = 60.0
        if re.search(r"\blow[- ]income\b", low):
            fields["low_income"] = True
        bmi = re.search(r"bmi\s+(?:greater than|above|over|exceeding|of more than|>)\s*(\d+(?:\.\d+)?)", low)
        if bmi:
            fields["min_bmi"] = float(bmi.group(1))
        elif re.search(r"exceed\w*\s+bmi|higher body weight|overweight|obes", low):
            fields["min_bmi"] = 28.0  # "exceeding BMI standards": the overweight cut-off used in China
        amount = re.search(r"\(\s*<\s*(\d[\d,.]*\s*k?)\s*\)|(?:exceeding|above|over|more than)\s+"
                           r"(\d[\d,.]*\s*k?)\s*(?:rmb|yuan|cny|元)?", low)  # fmt: skip
        if amount:
            fields["amount_over"] = _money(amount.group(1) or amount.group(2))
        only = re.search(r"\bonly\s+access\s+[a-z ]*?related to\s+([^.]*)", low)
        if only:
            allowed = re.split(r",|\bor\b|\band\b", only.group(1))
            fields["only_topics"] = tuple(s for p in allowed for s in _stems(p))
        stems = [s for p in _topic_list(low.split(" only ")[0]) for s in _stems(p)]
        fields["topics"] = tuple(dict.fromkeys(stems))
        fields["purchase_only"] = bool(re.search(r"\b(purchas\w*|buy\w*|invest\w*|book\w*)\b", low))
        fields["everything"] = bool(re.search(r"\bany\s+(investments?|purchases?)\b", low))
        fields["api_words"] = tuple(dict.fromkeys(w.rstrip("s") for w in re.findall(r"\b(tickets?)\b", low)))
        rule = PolicyRule(**fields)
        if rule.has_subject:
            rules.append(rule)
    return rules


def _income_upper(level: Any) -> float | None:
    """The upper bound of an income level like '<3k', '3k-10k', '>50k' (None: unbounded/unknown)."""
    if not isinstance(level, str):
        return None
    match = _INCOME.search(level.replace(",", ""))
    if not match:
        return None
    sign, first, k1, second, k2 = match.groups()
    if sign == ">":
        return None
    if second:
        return float(second) * (1000 if k2 or k1 else 1)
    return float(first) * (1000 if k1 else 1)


def _applies(rule: PolicyRule, persona: dict[str, Any]) -> str | None:
    """Why the rule's subject covers the persona (None if it does not)."""
    age = persona.get("Age")
    age = age if isinstance(age, (int, float)) and not isinstance(age, bool) else None
    if rule.max_age is not None and (age is None or age >= rule.max_age):
        return None
    if rule.min_age is not None and (age is None or age < rule.min_age):
        return None
    if rule.low_income:
        upper = _income_upper(persona.get("Income Level"))
        if upper is None or upper > 3000:
            return None
    if rule.min_bmi is not None:
        height, weight = persona.get("Height (cm)"), persona.get("Weight (kg)")
        try:
            bmi = float(weight) / (float(height) / 100) ** 2  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if bmi <= rule.min_bmi:
            return None
    parts = []
    if age is not None and (rule.max_age is not None or rule.min_age is not None):
        parts.append(f"age {age:g}")
    if rule.low_income:
        parts.append(f"income {persona.get('Income Level')}")
    if rule.min_bmi is not None:
        parts.append("BMI above the limit")
    return ", ".join(parts)


def _amounts(sample: Sample, call: Call) -> list[float]:
    found = []
    for match in _MONEY_CUE.finditer(sample.query):
        text = next(g for g in match.groups() if g)
        try:
            found.append(_money(text))
        except ValueError:
            continue
    for name, value in call.arguments.items():
        if any(a in name.lower() for a in _AMOUNT_PARAMS) and isinstance(value, (int, float)):
            if not isinstance(value, bool):
                found.append(float(value))
    return found


def _mentions(query: str, stems: Iterable[str]) -> str | None:
    """The first stem the query mentions: a stem of 6+ letters as a word prefix, a shorter one as
    a whole word (plural allowed), so that "train" is not found in "training"."""
    lowered = query.lower()
    for stem in stems:
        tail = "" if len(stem) >= 6 else r"(?:s|es)?(?![a-z])"
        if re.search(r"(?<![a-z])" + re.escape(stem) + tail, lowered):
            return stem
    return None


def policy_violations(policy: Any, sample: Sample, call: Call) -> list[str]:
    """The policy rules the call would break for this user (empty: none), as short reasons."""
    persona = sample.profile.basic_features
    if not persona:
        return []
    purchase = not call.name.lower().startswith(("get", "list", "search", "query"))
    reasons = []
    for rule in parse_policy(policy):
        who = _applies(rule, persona)
        if who is None or (rule.purchase_only and not purchase):
            continue
        what = None
        over = [a for a in _amounts(sample, call) if rule.amount_over is not None and a > rule.amount_over]
        if over:
            what = f"amount {over[0]:g} over {rule.amount_over:g}"
        elif rule.everything:
            what = "no such purchase allowed"
        elif rule.api_words and any(w in call.name.lower() for w in rule.api_words):
            what = f"{call.name} is restricted"
        elif (topic := _mentions(sample.query, rule.topics)) is not None:
            what = f"mentions {topic}"
        elif rule.only_topics and _mentions(sample.query, rule.only_topics) is None and not purchase:
            what = "outside the allowed topics"
        if what is not None:
            reasons.append(f"{who}: {what}")
    return reasons


def _policy_of(sample: Sample, app: str) -> Any:
    for platform in sample.platforms:
        if platform.name == app and isinstance(platform.profile, dict):
            return platform.profile.get("policy")
    return None
