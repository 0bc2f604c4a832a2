"""Per-sample outcomes and their aggregation into the PTBench metrics.

Both scorers (ours and the compatibility mode) produce `SampleResult`s; everything after that
(per-split means, the overall column, error counts, intervals) is shared, so the two modes
cannot drift in how they add things up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pertool.schema import Prediction

__all__ = [
    "ERROR_KEYS",
    "METRIC_KEYS",
    "SampleResult",
    "ScoredSample",
    "ScoreReport",
    "aggregate",
    "overall_split",
]

# Order of the paper's Table 2.
METRIC_KEYS = (
    "format",
    "platform",
    "query_param",
    "profile_param",
    "tool_name",
    "tool_param",
    "tool_value",
    "overall",
)
# Order of the paper's Figure 4; `platform` is counted on its own, beside one of the others.
ERROR_KEYS = (
    "tool_wrong",
    "tool_missing",
    "tool_excessive",
    "param_missing",
    "param_excessive",
    "param_value",
    "platform",
)
SAMPLE_LEVEL = ("format", "platform", "tool_name", "tool_param", "tool_value", "overall")
RATIO_LEVEL = {"query_param": ("query_correct", "query_total"),
               "profile_param": ("profile_correct", "profile_total")}
OVERALL = "overall"


@dataclass(slots=True)
class SampleResult:
    """What one sample scored. `errors` lists the error categories it counts toward."""

    sample_id: str
    split: str
    format: bool
    platform: bool = False
    tool_name: bool = False
    tool_param: bool = False
    tool_value: bool = False
    overall: bool = False
    query_correct: int = 0
    query_total: int = 0
    profile_correct: int = 0
    profile_total: int = 0
    errors: tuple[str, ...] = ()
    detail: str = ""  # the parse error, or a short reason, for reports

    def to_json(self) -> dict[str, Any]:
        return {f: (list(v) if isinstance(v := getattr(self, f), tuple) else v) for f in self.__slots__}


@dataclass(slots=True)
class ScoredSample:
    """What the scorer decided for one sample, whatever the benchmark: the run directory keeps
    it (scores.jsonl) so that reports render the scorer's own decisions, never a re-parse.

    `prediction` is the parse the scorer used (under a --compat mode, the public script's parse
    as a `Prediction`); `outcomes` each metric's outcome for this sample (True/False, or a
    fraction such as 2 of 3 parameters as 0.667; None where the metric does not apply);
    `categories` the error categories it counts under (empty: correct); `counts` the kind's count
    row, whose column sums over samples give every metric (`BenchmarkKind.metrics_from_counts`).
    """

    sample_id: str
    split: str
    prediction: Prediction | None
    outcomes: dict[str, bool | float | None]
    categories: tuple[str, ...] = ()
    counts: tuple[float, ...] = ()
    detail: str = ""  # the parse error, or a short reason, for reports

    @property
    def correct(self) -> bool:
        return not self.categories

    def to_json(self) -> dict[str, Any]:
        return {"id": self.sample_id, "split": self.split,
                "prediction": self.prediction.model_dump(mode="json") if self.prediction else None,
                "outcomes": self.outcomes, "categories": list(self.categories), "counts": list(self.counts),
                "detail": self.detail}  # fmt: skip


@dataclass
class ScoreReport:
    """Metrics per split plus `overall`, error counts, and bootstrap intervals."""

    splits: dict[str, dict[str, float | None]]
    errors: dict[str, dict[str, int]]
    intervals: dict[str, dict[str, list[float] | None]]
    counts: dict[str, int]
    mode: str = "pertool"
    missing_predictions: list[str] = field(default_factory=list)
    unknown_predictions: list[str] = field(default_factory=list)
    duplicate_predictions: list[str] = field(default_factory=list)
    # Samples left out of every metric because their request failed (no answer to score).
    no_answer: list[str] = field(default_factory=list)
    # Those of them whose prompt did not fit the model's context window (a part of no_answer).
    context_overflow: list[str] = field(default_factory=list)
    results: list[SampleResult] = field(default_factory=list)
    # Per sample, what the scorer decided (every kind fills it; `results` is PTBench's detail).
    scored: list[ScoredSample] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # benchmark-specific sections ("apps")

    @property
    def answered(self) -> int:
        """Samples scored (the metrics' population): every sample but the no-answer ones."""
        if OVERALL in self.counts:
            return self.counts[OVERALL]
        return sum(self.counts.values())

    def answered_line(self) -> str:
        """'N of M samples answered; K no answer, retry with --resume' (empty when all answered),
        with the samples whose prompt did not fit the context window counted apart."""
        if not self.no_answer:
            return ""
        n, total = self.answered, self.answered + len(self.no_answer)
        overflow = len(self.context_overflow)
        k = len(self.no_answer) - overflow
        parts = [f"{n} of {total} samples answered"]
        if k:
            parts.append(f"{k} no answer, retry with --resume")
        if overflow:
            parts.append(f"{overflow} did not fit the model's context window")
        return "; ".join(parts)

    def to_json(self, *, with_samples: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "splits": self.splits,
            "errors": self.errors,
            "intervals": self.intervals,
            "counts": self.counts,
            "mode": self.mode,
            "missing_predictions": self.missing_predictions,
            "unknown_predictions": self.unknown_predictions,
            "duplicate_predictions": self.duplicate_predictions,
            "answered": self.answered,
            "no_answer": len(self.no_answer),
            "context_overflow": len(self.context_overflow),
        }
        out.update(self.extra)
        if with_samples:
            out["samples"] = [r.to_json() for r in self.results]
        return out


def split_metrics(results: Sequence[SampleResult]) -> dict[str, float | None]:
    """The eight metrics of one split. Every sample counts in every denominator."""
    n = len(results)
    out: dict[str, float | None] = {}
    for key in METRIC_KEYS:
        if key in RATIO_LEVEL:
            num, den = RATIO_LEVEL[key]
            total = sum(getattr(r, den) for r in results)
            out[key] = sum(getattr(r, num) for r in results) / total if total else None
        else:
            out[key] = sum(getattr(r, key) for r in results) / n if n else None
    return out


def split_errors(results: Sequence[SampleResult]) -> dict[str, int]:
    counts = dict.fromkeys(ERROR_KEYS, 0)
    counts["format"] = 0
    for r in results:
        for category in r.errors:
            counts[category] += 1
    return counts


def overall_split(
    per_split: dict[str, dict[str, float | None]], counts: dict[str, int]
) -> dict[str, float | None]:
    """Sample-weighted mean of each metric over the splits (splits where it is undefined drop
    out of that metric's weights)."""
    out: dict[str, float | None] = {}
    for key in METRIC_KEYS:
        pairs = [(counts[s], v) for s, m in per_split.items() if (v := m[key]) is not None]
        weight = sum(w for w, _ in pairs)
        out[key] = sum(w * v for w, v in pairs) / weight if weight else None
    return out


def aggregate(results: Sequence[SampleResult]) -> tuple[dict, dict, dict[str, int]]:
    """(metrics, errors, counts) per split in first-seen order, plus the `overall` entry."""
    by_split: dict[str, list[SampleResult]] = {}
    for r in results:
        by_split.setdefault(r.split, []).append(r)
    counts = {s: len(rs) for s, rs in by_split.items()}
    metrics = {s: split_metrics(rs) for s, rs in by_split.items()}
    errors = {s: split_errors(rs) for s, rs in by_split.items()}
    metrics[OVERALL] = overall_split(metrics, counts)
    errors[OVERALL] = {k: sum(e[k] for e in errors.values()) for k in (*ERROR_KEYS, "format")}
    counts[OVERALL] = len(results)
    return metrics, errors, counts
