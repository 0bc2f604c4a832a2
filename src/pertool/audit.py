"""Shortcut audit: how far shallow rules over the context get on a benchmark, without reasoning.

For every personalized and environmental parameter (classed by the gold `sources`) and for the
app choice, over the samples whose gold is not a refusal, we ask how well the gold value is
predicted from the context alone by rules learned on the OTHER samples (k-fold cross-validation,
folds fixed by a seed; samples sharing a persona and environment share a fold, since ToolSpectrum
reuses contexts and a rule could otherwise pass by recognizing one, e.g. by its Date):

- the best single field with a majority map (each value of the field -> the most frequent gold
  value among training samples with that field value; unseen values -> the global majority);
- a shallow decision tree (depth <= 3, multiway splits on the same fields, a split kept only
  when it raises the leave-one-out accuracy on the training samples).

Fields: every environment field, every scalar persona field (numeric ones also as quartile
bins, plus the BMI class from height and weight), the gold API name, and each of the most
frequent informative words of the persona's Preferences as a present/absent field. A prediction
is right when `pertool.values.accepts(gold accepted values, predicted)`.

`best_field` is the field whose majority map has the best cross-validated accuracy (a choice among
many fields: optimistic when n is small); the tree is learned inside each training fold.

A parameter that single fields predict at 0.95 is a shortcut: a model passes it by copying one
field, with no reasoning about the user or the situation. The same learners drive the rule
baseline (`baseline/rules`, `pertool.models.rules_baseline`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from pertool.models.baseline import words
from pertool.schema import Sample
from pertool.values import accepts, normalize_text

__all__ = [
    "API_FIELD",
    "AuditReport",
    "FeatureSpace",
    "MajorityMap",
    "Row",
    "TargetAudit",
    "TreeNode",
    "assign_folds",
    "audit",
    "context_key",
    "learn_majority_map",
    "learn_tree",
    "value_key",
]

API_FIELD = "API"
PREFERENCES = "Preferences"
MISSING = "(missing)"
_PREFERENCE_PREFIX = "Preferences: "
_VOCABULARY_SIZE = 40
# Words of the preference paragraphs that say nothing about the user.
_GENERIC = frozenset(
    "are has have their they them this often such who which when while also than into over more most "
    "very other others its being been were was will just about through across each every both tend "
    "tends user users individual person someone likely frequently regularly".split()
)


# --- values -------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """A form in which values `accepts` treats as equal mostly look equal (hashable via JSON)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = normalize_text(value)
        return {"true": True, "false": False}.get(text, text)
    if isinstance(value, (int, float)):
        return float(value) if isinstance(value, float) and not value.is_integer() else int(value)
    if isinstance(value, (list, tuple)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return str(value)


def value_key(value: Any) -> str:
    """A canonical JSON dump of a value: the key under which (possibly unhashable) values count."""
    return json.dumps(_canonical(value), sort_keys=True, default=str, ensure_ascii=False)


# --- features -----------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bmi(persona: Mapping[str, Any]) -> float | None:
    height, weight = persona.get("Height (cm)"), persona.get("Weight (kg)")
    if isinstance(height, (int, float)) and isinstance(weight, (int, float)) and height > 0:
        return float(weight) / (float(height) / 100) ** 2
    return None


def _bmi_class(bmi: float | None) -> str:
    if bmi is None:
        return MISSING
    return "underweight" if bmi < 18.5 else "normal" if bmi < 25 else "overweight" if bmi < 30 else "obese"


def _quartile(value: Any, cuts: Sequence[float]) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"q{sum(float(value) >= c for c in cuts)}"
    return MISSING


def _preference_words(persona: Mapping[str, Any]) -> set[str]:
    prefs = persona.get(PREFERENCES)
    texts = prefs if isinstance(prefs, list) else [prefs] if isinstance(prefs, str) else []
    return {w for t in texts if isinstance(t, str) for w in words(t) if len(w) > 2 and w not in _GENERIC}


def _environment(sample: Sample) -> dict[str, Any]:
    return sample.environment.model_dump() if sample.environment is not None else {}


@dataclass(frozen=True)
class FeatureSpace:
    """Which fields a sample is described by. Fitted on samples' contexts only (never on gold)."""

    environment_fields: tuple[str, ...]
    persona_fields: tuple[str, ...]
    cuts: dict[str, tuple[float, ...]]  # numeric field -> quartile cut points
    vocabulary: tuple[str, ...]  # Preferences words used as present/absent fields
    with_bmi: bool = False

    @classmethod
    def fit(cls, samples: Iterable[Sample], vocabulary_size: int = _VOCABULARY_SIZE) -> FeatureSpace:
        env_fields: dict[str, None] = {}
        persona_fields: dict[str, None] = {}
        numbers: dict[str, list[float]] = {}
        non_numeric: set[str] = set()
        documents = Counter[str]()
        n_with_prefs = 0
        with_bmi = False
        for sample in samples:
            persona = sample.profile.basic_features
            for source, names in ((_environment(sample), env_fields), (persona, persona_fields)):
                for name, value in source.items():
                    if name == PREFERENCES or isinstance(value, (list, dict)):
                        continue
                    names.setdefault(name)
                    if _is_number(value):
                        numbers.setdefault(name, []).append(float(value))
                    elif value is not None:
                        non_numeric.add(name)
            if PREFERENCES in persona:
                n_with_prefs += 1
                documents.update(_preference_words(persona))
            with_bmi = with_bmi or _bmi(persona) is not None
        cuts = {}
        for name, values in numbers.items():
            if name in non_numeric or len(set(values)) <= 4:
                continue
            ordered = sorted(values)
            points = sorted({ordered[len(ordered) * q // 4] for q in (1, 2, 3)})
            cuts[name] = tuple(points)
        # informative: present in some users and absent in most (not in nearly all, not rare)
        lo, hi = max(2, 0.03 * n_with_prefs), 0.5 * n_with_prefs
        ranked = sorted((w for w, c in documents.items() if lo <= c <= hi), key=lambda w: (-documents[w], w))
        return cls(tuple(env_fields), tuple(persona_fields), cuts, tuple(ranked[:vocabulary_size]), with_bmi)

    def fields(self, with_api: bool = True) -> list[str]:
        names = [*self.environment_fields]
        for name in self.persona_fields:
            names.append(name)
            if name in self.cuts:
                names.append(f"{name} (quartile)")
        for name in self.environment_fields:
            if name in self.cuts:
                names.append(f"{name} (quartile)")
        if self.with_bmi:
            names.append("BMI (class)")
        if with_api:
            names.append(API_FIELD)
        names.extend(_PREFERENCE_PREFIX + w for w in self.vocabulary)
        return names

    def features(self, sample: Sample, api: str | None) -> dict[str, str]:
        """Field -> value as a string (`(missing)` where the sample lacks the field)."""
        persona = sample.profile.basic_features
        out: dict[str, str] = {}
        sources = ((self.environment_fields, _environment(sample)), (self.persona_fields, persona))
        for names, source in sources:
            for name in names:
                value = source.get(name)
                out[name] = MISSING if value is None else value_key(value)
                if name in self.cuts:
                    out[f"{name} (quartile)"] = _quartile(value, self.cuts[name])
        if self.with_bmi:
            out["BMI (class)"] = _bmi_class(_bmi(persona))
        out[API_FIELD] = api if api is not None else MISSING
        present = _preference_words(persona)
        for word in self.vocabulary:
            out[_PREFERENCE_PREFIX + word] = "yes" if word in present else "no"
        return out


# --- learners -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One training or test example of a target: context fields, gold label and accepted values."""

    sample_id: str
    features: Mapping[str, str]
    label: str  # value_key of the gold value
    value: Any  # the gold value itself (what a rule predicting this label answers)
    accepted: Sequence[Any]
    group: str = ""  # rows of one group (a shared persona/environment) are held out together


def _best(counts: Mapping[str, int], prefer: str | None = None) -> str:
    """The most frequent label; ties go to `prefer` when it is among them, else the smallest key."""
    top = max(counts.values())
    tied = [label for label, c in counts.items() if c == top]
    return prefer if prefer in tied else min(tied)


def _values(rows: Iterable[Row]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in rows:
        out.setdefault(row.label, row.value)
    return out


def _loo_correct(groups: Mapping[str, Counter[str]], fallback: str) -> int:
    """Rows of a field-value group that a majority vote gets right when each context group
    (`Row.group`) is left out of its own vote; an empty vote falls back to `fallback`."""
    counts: Counter[str] = Counter()
    for part in groups.values():
        counts.update(part)
    correct = 0
    for part in groups.values():
        rest = {k: v - part[k] for k, v in counts.items() if v - part[k] > 0}
        guess = _best(rest, fallback) if rest else fallback
        correct += part[guess]
    return correct


def _split(rows: Sequence[Row], name: str) -> dict[str, dict[str, Counter[str]]]:
    """Field value -> context group -> label counts."""
    out: dict[str, dict[str, Counter[str]]] = {}
    for row in rows:
        value = row.features.get(name, MISSING)
        out.setdefault(value, {}).setdefault(row.group or row.sample_id, Counter())[row.label] += 1
    return out


def _parts(rows: Sequence[Row]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for row in rows:
        out.setdefault(row.group or row.sample_id, Counter())[row.label] += 1
    return out


def _total(parts: Mapping[str, Counter[str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for part in parts.values():
        counts.update(part)
    return counts


@dataclass
class MajorityMap:
    """A field's value -> the majority gold label of training rows with it; else the global one."""

    field: str | None
    table: dict[str, str]
    default: str
    values: dict[str, Any]
    loo_accuracy: float = 0.0  # leave-one-out accuracy on its own training rows

    def predict_label(self, features: Mapping[str, str]) -> str:
        if self.field is None:
            return self.default
        return self.table.get(features.get(self.field, MISSING), self.default)

    def predict(self, features: Mapping[str, str]) -> Any:
        return self.values[self.predict_label(features)]


def learn_majority_map(rows: Sequence[Row], field_name: str | None) -> MajorityMap:
    """The majority map of one field (None: the global majority alone)."""
    if not rows:
        raise ValueError("no rows to learn from")
    default = _best(Counter(r.label for r in rows))
    if field_name is None:
        loo = _loo_correct(_parts(rows), default)
        return MajorityMap(None, {}, default, _values(rows), loo / len(rows))
    split = _split(rows, field_name)
    table = {value: _best(_total(parts), default) for value, parts in split.items()}
    loo = sum(_loo_correct(parts, default) for parts in split.values())
    return MajorityMap(field_name, table, default, _values(rows), loo / len(rows))


def best_majority_map(rows: Sequence[Row], fields: Sequence[str]) -> MajorityMap:
    """The field whose majority map has the best leave-one-out accuracy (the global majority if
    no field beats it); ties go to the earlier field."""
    best = learn_majority_map(rows, None)
    for name in fields:
        candidate = learn_majority_map(rows, name)
        if candidate.loo_accuracy > best.loo_accuracy + 1e-12:
            best = candidate
    return best


@dataclass
class TreeNode:
    """A node of a shallow categorical tree: a label, and optionally a split on one field."""

    label: str
    field: str | None = None
    children: dict[str, TreeNode] = _field(default_factory=dict)
    values: dict[str, Any] = _field(default_factory=dict)  # set on the root only
    counts: dict[str, int] = _field(default_factory=dict)  # training labels reaching the node

    def leaf(self, features: Mapping[str, str]) -> TreeNode:
        """The node a sample ends at (an unseen value stops at the node that splits on it)."""
        node = self
        while node.field is not None:
            child = node.children.get(features.get(node.field, MISSING))
            if child is None:
                break
            node = child
        return node

    def predict_label(self, features: Mapping[str, str]) -> str:
        return self.leaf(features).label

    def predict(self, features: Mapping[str, str]) -> Any:
        return self.values[self.predict_label(features)]

    def depth(self) -> int:
        return 0 if not self.children else 1 + max(c.depth() for c in self.children.values())

    def describe(self) -> str:
        """A one-line rendering, e.g. `Network Condition{"Wifi": online, ...}`."""
        if self.field is None:
            return self.label
        inner = ", ".join(f"{k}: {c.describe()}" for k, c in sorted(self.children.items()))
        return f"{self.field}{{{inner}; else {self.label}}}"


def learn_tree(rows: Sequence[Row], fields: Sequence[str], max_depth: int = 3, min_leaf: int = 2) -> TreeNode:
    """A depth-limited tree with multiway splits; a split must raise leave-one-out accuracy."""
    if not rows:
        raise ValueError("no rows to learn from")
    root = _grow(rows, fields, max_depth, min_leaf, None)
    root.values = _values(rows)
    return root


def _grow(rows: Sequence[Row], fields: Sequence[str], depth: int, min_leaf: int,
          parent: str | None) -> TreeNode:  # fmt: skip
    counts = Counter(r.label for r in rows)
    label = _best(counts, parent)
    node = TreeNode(label, counts=dict(counts))
    if depth == 0 or len(counts) == 1 or len(rows) < 2 * min_leaf:
        return node
    best_field, best_score = None, _loo_correct(_parts(rows), label)
    for name in fields:
        split = _split(rows, name)
        if len(split) < 2:
            continue
        score = 0
        for parts in split.values():
            total = _total(parts)
            score += _loo_correct(parts, label) if sum(total.values()) >= min_leaf else total[label]
        if score > best_score:
            best_field, best_score = name, score
    if best_field is None:
        return node
    node.field = best_field
    by_value: dict[str, list[Row]] = {}
    for row in rows:
        by_value.setdefault(row.features.get(best_field, MISSING), []).append(row)
    for value, group in by_value.items():
        if len(group) >= min_leaf:
            node.children[value] = _grow(group, fields, depth - 1, min_leaf, label)
    return node


# --- folds --------------------------------------------------------------------------------


def context_key(sample: Sample) -> str:
    """What identifies a sample's context: its persona and environment (instructions aside).

    ToolSpectrum reuses each persona and environment across several samples; holding them out
    together keeps a rule from passing by recognizing a context it saw (say, by its Date)."""
    return value_key([sample.profile.basic_features, _environment(sample)])


def assign_folds(ids: Iterable[str], k: int = 5, seed: int = 0,
                 groups: Mapping[str, str] | None = None) -> dict[str, int]:  # fmt: skip
    """Sample id -> fold in 0..k-1: groups (default: each id alone) ordered by a seeded hash,
    then dealt round-robin, so a group's samples share a fold.

    Deterministic, and independent of everything but the ids and groups (never of gold)."""
    if k < 2:
        raise ValueError("k-fold cross-validation needs k >= 2")
    keys = {i: (groups or {}).get(i, i) for i in ids}
    ordered = sorted(set(keys.values()), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    fold_of_group = {g: position % k for position, g in enumerate(ordered)}
    return {sample_id: fold_of_group[key] for sample_id, key in keys.items()}


# --- the audit ----------------------------------------------------------------------------


@dataclass
class TargetAudit:
    """One audited target: a parameter (or the app) and how well shallow rules predict it."""

    param: str | None  # None for the app choice
    cls: str  # personalized, environmental, or "app"
    best_field: str | None
    field_accuracy: float
    tree_accuracy: float
    majority_accuracy: float  # the global majority value, cross-validated the same way
    n: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.param is None else {"param": self.param, "class": self.cls}
        out.update({"best_field": self.best_field, "field_accuracy": round(self.field_accuracy, 4),
                    "tree_accuracy": round(self.tree_accuracy, 4),
                    "majority_accuracy": round(self.majority_accuracy, 4), "n": self.n})  # fmt: skip
        return out


@dataclass
class AuditReport:
    params: list[TargetAudit]
    app: TargetAudit | None
    folds: int
    seed: int
    samples: int  # samples with a non-null gold

    def to_json(self) -> dict[str, Any]:
        return {"params": [p.to_json() for p in self.params],
                "app": self.app.to_json() if self.app else None,
                "folds": self.folds, "seed": self.seed, "samples": self.samples}  # fmt: skip

    def param(self, name: str) -> TargetAudit:
        for target in self.params:
            if target.param == name:
                return target
        raise KeyError(name)


def _accuracy(rows: Sequence[Row], predicted: Sequence[Any]) -> float:
    return sum(accepts(r.accepted, p) for r, p in zip(rows, predicted)) / len(rows) if rows else 0.0


def _cross_validate(rows: Sequence[Row], folds: Mapping[str, int], k: int, learn: Any) -> float:
    """Accuracy of `learn(train rows)` (a model with .predict(features)) on held-out folds."""
    predicted: dict[int, Any] = {}
    for fold in range(k):
        train = [r for r in rows if folds[r.sample_id] != fold]
        test = [(i, r) for i, r in enumerate(rows) if folds[r.sample_id] == fold]
        if not test:
            continue
        if not train:  # nothing to learn from: count as wrong
            predicted.update((i, _NOTHING) for i, _ in test)
            continue
        model = learn(train)
        predicted.update((i, model.predict(r.features)) for i, r in test)
    return _accuracy(rows, [predicted[i] for i in range(len(rows))])


class _Nothing:
    """A prediction no gold value accepts."""


_NOTHING = _Nothing()


def _audit_target(param: str | None, cls: str, rows: list[Row], fields: Sequence[str],
                  folds: Mapping[str, int], k: int) -> TargetAudit:  # fmt: skip
    majority = _cross_validate(rows, folds, k, lambda train: learn_majority_map(train, None))
    best_field, best_accuracy = None, majority
    for name in fields:
        accuracy = _cross_validate(rows, folds, k, lambda train, n=name: learn_majority_map(train, n))
        if accuracy > best_accuracy + 1e-12:
            best_field, best_accuracy = name, accuracy
    tree = _cross_validate(rows, folds, k, lambda train: learn_tree(train, fields))
    return TargetAudit(param, cls, best_field, best_accuracy, tree, majority, len(rows))


def audit(samples: Sequence[Sample], folds: int = 5, seed: int = 0) -> AuditReport:
    """The shortcut audit of a benchmark's samples (see the module docstring)."""
    gold = [s for s in samples if s.gold_platform is not None and s.gold_calls]
    space = FeatureSpace.fit(gold)
    fields = space.fields()
    groups = {s.id: context_key(s) for s in gold}
    fold_of = assign_folds(groups, folds, seed, groups)
    features = {s.id: space.features(s, s.gold_calls[0].name) for s in gold}
    targets: dict[tuple[str, str], list[Row]] = {}
    for sample in gold:
        call = sample.gold_calls[0]
        for name, cls in call.sources.items():
            if cls == "profile":  # PTBench's profile-sourced parameters are personalized ones
                cls = "personalized"
            if cls not in ("personalized", "environmental") or not call.arguments.get(name):
                continue
            accepted = call.arguments[name]
            row = Row(sample.id, features[sample.id], value_key(accepted[0]), accepted[0], accepted,
                      groups[sample.id])  # fmt: skip
            targets.setdefault((name, cls), []).append(row)
    order = {"environmental": 0, "personalized": 1}
    params = [_audit_target(name, cls, rows, fields, fold_of, folds)
              for (name, cls), rows in sorted(targets.items(), key=lambda t: (order[t[0][1]], t[0][0]))]
    app_rows = [Row(s.id, features[s.id], value_key(s.gold_platform), s.gold_platform, [s.gold_platform],
                    groups[s.id]) for s in gold]  # fmt: skip
    # The gold API names its app: as a field for the app choice it would only leak the answer.
    app_fields = space.fields(with_api=False)
    app = _audit_target(None, "app", app_rows, app_fields, fold_of, folds) if app_rows else None
    return AuditReport(params, app, folds, seed, len(gold))
