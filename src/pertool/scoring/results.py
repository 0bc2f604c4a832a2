"""Per-sample outcomes and their aggregation into the PTBench metrics.

Both scorers (ours and the compatibility mode) produce `SampleResult`s; everything after that
(per-split means, the overall column, error counts, intervals) is shared, so the two modes
cannot drift in how they add things up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pertool.schema import Prediction

__all__ = [
    "COUNT_COLUMNS",
    "ERROR_KEYS",
    "METRIC_KEYS",
    "SampleResult",
    "ScoredSample",
    "ScoreReport",
    "aggregate",
    "metrics_from_counts",
    "scored_sample",
    "scored_samples",
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
# A PTBench-shaped sample's count row: column sums over a split give every metric of that split.
COUNT_COLUMNS = ("n", *SAMPLE_LEVEL, "query_correct", "query_total", "profile_correct", "profile_total")
_COLUMN = {name: i for i, name in enumerate(COUNT_COLUMNS)}


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

    def count_row(self) -> tuple[int, ...]:
        """The sample's counts in the order of COUNT_COLUMNS."""
        return (1, int(self.format), int(self.platform), int(self.tool_name), int(self.tool_param),
                int(self.tool_value), int(self.overall), self.query_correct, self.query_total,
                self.profile_correct, self.profile_total)  # fmt: skip


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

    @classmethod
    def from_json(cls, data: Any, where: str, *, width: int | None = None) -> ScoredSample:
        """A scores.jsonl line; a line of the wrong shape raises DataError naming `where` and the
        field (`width`: the count row's length, when known)."""
        from pertool.errors import DataError

        if not isinstance(data, dict):
            raise DataError(where, "expected a JSON object")
        checks: dict[str, tuple[type, ...]] = {
            "id": (str,), "split": (str,), "prediction": (dict, type(None)), "outcomes": (dict,),
            "categories": (list,), "counts": (list,), "detail": (str,)}  # fmt: skip
        for name, types in checks.items():
            if not isinstance(data.get(name), types):
                raise DataError(where, "missing or of the wrong type", field=name)
        counts = data["counts"]
        if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in counts):
            raise DataError(where, "expected numbers", field="counts")
        if width is not None and len(counts) != width:
            raise DataError(where, f"expected {width} counts as on the first line, found {len(counts)}",
                            field="counts")  # fmt: skip
        if not all(isinstance(c, str) for c in data["categories"]):
            raise DataError(where, "expected strings", field="categories")
        try:
            prediction = Prediction.model_validate(data["prediction"]) if data["prediction"] else None
        except ValueError as exc:
            raise DataError(where, str(exc).splitlines()[0], field="prediction") from None
        return cls(data["id"], data["split"], prediction, data["outcomes"], tuple(data["categories"]),
                   tuple(counts), data["detail"])  # fmt: skip


def scored_samples(lines: Iterable[tuple[str, Any]]) -> list[ScoredSample]:
    """scores.jsonl's lines ((where, value) pairs) as scored samples. Every count row must have
    the width of the first (one kind wrote them all): a row of another width would break every
    sum of rows, so it is a DataError naming its line."""
    out: list[ScoredSample] = []
    for where, value in lines:
        out.append(ScoredSample.from_json(value, where, width=len(out[0].counts) if out else None))
    return out


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
    kind: str = "ptbench"  # the benchmark kind whose metrics these are (`pertool.kinds`)

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
            out["scored"] = [r.to_json() for r in self.scored]  # as a run's scores.jsonl
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], *, kind: str, exclude: Sequence[str] = ()) -> ScoreReport:
        """A report as `to_json` wrote it (a run's metrics.json); `exclude`: keys that are not the
        report's (a run's usage and the like). The per-sample lists it only counted come back as
        given by the caller."""
        known = {"splits", "errors", "intervals", "counts", "mode", "missing_predictions",
                 "unknown_predictions", "duplicate_predictions", "answered", "no_answer",
                 "context_overflow"}  # fmt: skip
        return cls(splits=data["splits"], errors=data.get("errors", {}), intervals=data.get("intervals", {}),
                   counts=data["counts"], mode=str(data.get("mode", "pertool")),
                   missing_predictions=list(data.get("missing_predictions", [])),
                   unknown_predictions=list(data.get("unknown_predictions", [])),
                   duplicate_predictions=list(data.get("duplicate_predictions", [])),
                   extra={k: v for k, v in data.items() if k not in known and k not in exclude},
                   kind=kind)  # fmt: skip


def scored_sample(result: SampleResult, prediction: Prediction | None,
                  row: tuple[int, ...] | None = None) -> ScoredSample:  # fmt: skip
    """A PTBench-shaped sample's `ScoredSample`: its outcomes in Table-2 order (Query and Profile
    as the share of its gold parameters of that source, None when it has none)."""
    outcomes: dict[str, bool | float | None] = {
        "format": result.format, "platform": result.platform,
        "query_param": result.query_correct / result.query_total if result.query_total else None,
        "profile_param": result.profile_correct / result.profile_total if result.profile_total else None,
        "tool_name": result.tool_name, "tool_param": result.tool_param, "tool_value": result.tool_value,
        "overall": result.overall}  # fmt: skip
    return ScoredSample(result.sample_id, result.split, prediction, outcomes, result.errors,
                        result.count_row() if row is None else row, result.detail)  # fmt: skip


def metrics_from_counts(totals: np.ndarray, splits: Sequence[str]) -> dict[str, np.ndarray]:
    """The PTBench metrics of summed count rows (`COUNT_COLUMNS`): `totals` has the shape
    [..., len(splits), len(COUNT_COLUMNS)], one summed row per split. One split: its metrics
    (each a share of its samples, Query and Profile a share of their gold parameters). Several:
    the sample-weighted mean of the splits' values (the `overall` column; a split where a metric
    is undefined drops out of that metric's weights). NaN where undefined. The one place where
    PTBench metrics are made from counts: aggregation, bootstrap and compare all call it."""
    n = totals[..., _COLUMN["n"]]
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for key in METRIC_KEYS:
            num, den = RATIO_LEVEL.get(key, (key, "n"))
            d = totals[..., _COLUMN[den]]
            defined = d > 0
            value = np.where(defined, totals[..., _COLUMN[num]] / np.where(defined, d, 1), np.nan)
            if len(splits) == 1:
                out[key] = value[..., 0]
                continue
            weight = np.where(defined, n, 0.0).sum(axis=-1)
            weighted = np.where(defined, n * np.where(defined, value, 0.0), 0.0).sum(axis=-1)
            out[key] = np.where(weight > 0, weighted / np.where(weight > 0, weight, 1), np.nan)
    return out


def point_metrics(totals: np.ndarray, splits: Sequence[str], metrics: Any) -> dict[str, float | None]:
    """`metrics(totals, splits)` as plain floats, None where undefined (full precision)."""
    return {k: (None if np.isnan(v) else float(v)) for k, v in metrics(totals, splits).items()}


def split_totals(rows_by_split: Mapping[str, Sequence[Sequence[float]]], width: int) -> np.ndarray:
    """Column sums of each split's count rows, stacked: shape [len(splits), width]."""
    if not rows_by_split:
        return np.zeros((0, width))
    return np.stack([np.array(rows, dtype=np.float64).reshape(len(rows), width).sum(axis=0)
                     for rows in rows_by_split.values()])  # fmt: skip


def split_errors(results: Sequence[SampleResult]) -> dict[str, int]:
    counts = dict.fromkeys(ERROR_KEYS, 0)
    counts["format"] = 0
    for r in results:
        for category in r.errors:
            counts[category] += 1
    return counts


def aggregate(results: Sequence[SampleResult],
              rows: Sequence[tuple[int, ...]] | None = None) -> tuple[dict, dict, dict]:  # fmt: skip
    """(metrics, errors, counts) per split in first-seen order, plus the `overall` entry; `rows`:
    the results' count rows when already made."""
    rows = [r.count_row() for r in results] if rows is None else rows
    by_split: dict[str, list[SampleResult]] = {}
    rows_by_split: dict[str, list[tuple[int, ...]]] = {}
    for r, row in zip(results, rows):
        by_split.setdefault(r.split, []).append(r)
        rows_by_split.setdefault(r.split, []).append(row)
    counts = {s: len(rs) for s, rs in by_split.items()}
    totals = split_totals(rows_by_split, len(COUNT_COLUMNS))
    splits = list(by_split)
    metrics: dict[str, dict[str, float | None]] = {
        s: point_metrics(totals[i : i + 1], [s], metrics_from_counts)
        for i, s in enumerate(splits)}  # fmt: skip
    errors = {s: split_errors(rs) for s, rs in by_split.items()}
    metrics[OVERALL] = point_metrics(totals, splits, metrics_from_counts)
    errors[OVERALL] = {k: sum(e[k] for e in errors.values()) for k in (*ERROR_KEYS, "format")}
    counts[OVERALL] = len(results)
    return metrics, errors, counts
