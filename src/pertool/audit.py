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
field, with no reasoning about the user or the situation. The features and learners live in
`pertool.learners`, which the rule baseline (`baseline/rules`) uses too; the audit does not
import the baselines, nor they the audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pertool.learners import (
    API_FIELD,
    FeatureSpace,
    MajorityMap,
    Row,
    TreeNode,
    assign_folds,
    context_key,
    learn_majority_map,
    learn_tree,
    value_key,
)
from pertool.schema import Sample
from pertool.values import accepts

# The learners' names stay importable from here for `pertool.audit` users.
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
