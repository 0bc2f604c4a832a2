"""Shallow learners over context fields: a majority map of one field, and a depth-limited
categorical tree whose splits must raise leave-one-out accuracy (rows of one context group are
left out together). Shared by the shortcut audit and the rule baseline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from pertool.learners.features import MISSING

__all__ = ["MajorityMap", "Row", "TreeNode", "best_majority_map", "learn_majority_map", "learn_tree"]


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
