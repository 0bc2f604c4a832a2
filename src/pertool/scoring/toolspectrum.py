"""ToolSpectrum metrics (docs/scoring.md, "ToolSpectrum"): cascaded F1 per level, per-class
parameter micro-F1, refusal precision/recall/F1, accuracy.

Levels cascade: APP, then API, then RP (every required parameter accepted), then PP (persona
subset: every personalized parameter) or OP (the other subsets: every environmental one). A
refusal is a negative prediction; an unparsable answer is NOT a refusal, it is a wrong non-null
prediction (a false positive at every level, never a correct abstention). For each level:
TP = non-null prediction and gold, correct at that level; FP = non-null prediction not a TP;
FN = non-null gold not a TP; F1 = 2TP / (2TP + FP + FN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pertool.schema import Prediction, Provenance, Sample
from pertool.values import accepts, normalize_text

__all__ = ["ROW", "first_failure", "final_level", "metrics_from_counts", "metrics_from_totals", "outcomes",
           "score_row"]

LEVELS = ("app", "api", "rp", "pp", "op")
CLASSES: dict[Provenance, str] = {"required": "rp", "personalized": "pp", "environmental": "op"}
ROW = (
    "n", "format", "strict", "correct",
    *(f"{level}_{c}" for level in LEVELS for c in ("tp", "fp", "fn")),
    "refusal_tp", "refusal_fp", "refusal_fn",
    *(f"{cls}_param_{c}" for cls in CLASSES.values() for c in ("tp", "fp", "fn")),
)  # fmt: skip
INDEX = {name: i for i, name in enumerate(ROW)}


def final_level(subset: str) -> str:
    return "pp" if subset == "persona" else "op"


def score_row(sample: Sample, prediction: Prediction) -> tuple[int, ...]:
    """One sample's counts, in the order of ROW (sums of rows give every metric)."""
    row = [0] * len(ROW)

    def add(name: str, value: int = 1) -> None:
        row[INDEX[name]] += value

    add("n")
    gold_null = sample.gold_platform is None
    parsed = prediction.parse_error is None
    refused = parsed and prediction.refusal
    add("format", parsed)
    add("strict", parsed and not prediction.repaired)
    correct = _cascade(sample, prediction) if parsed and not refused and not gold_null else {}
    last = final_level(sample.split)
    for level in ("app", "api", "rp", last):
        tp = bool(correct.get(level))
        add(f"{level}_tp", tp)
        add(f"{level}_fp", not refused and not tp)
        add(f"{level}_fn", not gold_null and not tp)
    add("refusal_tp", refused and gold_null)
    add("refusal_fp", refused and not gold_null)
    add("refusal_fn", gold_null and not refused)
    add("correct", (refused and gold_null) or bool(correct.get(last)))
    if not gold_null:
        _param_counts(sample, prediction if parsed and not refused else None, add)
    return tuple(row)


def _cascade(sample: Sample, prediction: Prediction) -> dict[str, bool]:
    gold = sample.gold_calls[0]
    call = prediction.calls[0] if prediction.calls else None
    out = {"app": normalize_text(prediction.platform or "") == normalize_text(sample.gold_platform or "")}
    out["api"] = out["app"] and call is not None and call.name == gold.name
    ok = {cls: call is not None and all(p in call.arguments and accepts(gold.arguments[p], call.arguments[p])
                                        for p, s in gold.sources.items() if s == cls)
          for cls in CLASSES}  # fmt: skip
    out["rp"] = out["api"] and ok["required"]
    # The last level (PP on persona, OP elsewhere) needs every personalized AND environmental
    # parameter: on persona_environment a wrong personalized value must not pass as correct.
    out["pp"] = out["op"] = out["rp"] and ok["personalized"] and ok["environmental"]
    return out


def _param_counts(sample: Sample, prediction: Prediction | None, add: Any) -> None:
    gold = sample.gold_calls[0]
    predicted = prediction.calls[0].arguments if prediction and prediction.calls else {}
    predicted_classes = _classes_of(sample, prediction)
    matched = set()
    for name, value in predicted.items():
        cls = gold.sources.get(name) or predicted_classes.get(name)
        if cls is None:
            continue  # a parameter no description classes: counted nowhere
        key = CLASSES[cls]
        if name in gold.arguments and accepts(gold.arguments[name], value):
            add(f"{key}_param_tp")
            matched.add(name)
        else:
            add(f"{key}_param_fp")
    for name, cls in gold.sources.items():
        if name not in matched:
            add(f"{CLASSES[cls]}_param_fn")


def _classes_of(sample: Sample, prediction: Prediction | None) -> dict[str, Provenance]:
    """Classes of the predicted API's parameters, from its description (if the app has it)."""
    if prediction is None or not prediction.calls:
        return {}
    api, app = prediction.calls[0].name, prediction.platform
    for tool in sample.tools:
        if tool.name == api and (tool.model_extra or {}).get("app") == app:
            props = tool.function.parameters.get("properties", {})
            return {p: spec.get("x-class") for p, spec in props.items() if spec.get("x-class")}
    return {}


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def metrics_from_totals(totals: np.ndarray, subsets: Sequence[str]) -> dict[str, np.ndarray]:
    """Metric arrays from summed rows (shape [..., len(ROW)]); NaN where undefined."""
    t = {name: totals[..., i] for name, i in INDEX.items()}
    out = {"format": _ratio(t["format"], t["n"]), "format_strict": _ratio(t["strict"], t["n"])}
    levels = ["app", "api", "rp"] + sorted({final_level(s) for s in subsets}, reverse=True)
    for level in levels:
        out[f"{level}_f1"] = _f1(t[f"{level}_tp"], t[f"{level}_fp"], t[f"{level}_fn"])
    for cls in CLASSES.values():
        out[f"{cls}_param_f1"] = _f1(t[f"{cls}_param_tp"], t[f"{cls}_param_fp"], t[f"{cls}_param_fn"])
    out["refusal_precision"] = _ratio(t["refusal_tp"], t["refusal_tp"] + t["refusal_fp"])
    out["refusal_recall"] = _ratio(t["refusal_tp"], t["refusal_tp"] + t["refusal_fn"])
    out["refusal_f1"] = _f1(t["refusal_tp"], t["refusal_fp"], t["refusal_fn"])
    out["accuracy"] = _ratio(t["correct"], t["n"])
    return out


def metrics_from_counts(totals: np.ndarray, subsets: Sequence[str]) -> dict[str, np.ndarray]:
    """Metrics of summed rows stacked per subset (shape [..., len(subsets), len(ROW)]): the
    subsets are pooled (F1 of the summed counts). The one place where ToolSpectrum metrics are
    made from counts: the scorer, its bootstrap and compare all call it."""
    return metrics_from_totals(totals.sum(axis=-2), subsets)


def outcomes(sample: Sample, row: tuple[int, ...]) -> dict[str, bool | float | None]:
    """Each metric's outcome for one sample: a level's F1 as whether the sample is a true
    positive there (None when neither the gold nor the answer is a call), a parameter class's
    F1 as the sample's own F1 (None without such parameters), refusal F1 likewise."""
    def count(name: str) -> int:
        return row[INDEX[name]]

    out: dict[str, bool | float | None] = {"format": bool(count("format")),
                                           "format_strict": bool(count("strict"))}  # fmt: skip
    for level in ("app", "api", "rp", final_level(sample.split)):
        tp, fp, fn = (count(f"{level}_{c}") for c in ("tp", "fp", "fn"))
        out[f"{level}_f1"] = bool(tp) if tp + fp + fn else None
    for cls in CLASSES.values():
        tp, fp, fn = (count(f"{cls}_param_{c}") for c in ("tp", "fp", "fn"))
        out[f"{cls}_param_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    tp, fp, fn = (count(f"refusal_{c}") for c in ("tp", "fp", "fn"))
    out["refusal_f1"] = bool(tp) if tp + fp + fn else None
    out["accuracy"] = bool(count("correct"))
    return out


def first_failure(sample: Sample, prediction: Prediction, row: tuple[int, ...]) -> str | None:
    """The sample's error category: the first thing it gets wrong (None when correct). The
    levels cascade, so a wrong answer is counted once, at the first level it fails."""
    if not prediction.parsed:
        return "format"
    if sample.gold_platform is None:
        return None if prediction.refusal else "missed_refusal"
    if prediction.refusal:
        return "wrong_refusal"
    for level in ("app", "api", "rp", final_level(sample.split)):
        if not row[INDEX[f"{level}_tp"]]:
            return level
    return None
