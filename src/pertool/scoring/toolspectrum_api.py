"""`score()` for ToolSpectrum samples: per subset, overall and per app, with intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pertool.benchmarks.quality import gold_quality
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.schema import Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_counts
from pertool.scoring.results import OVERALL, ScoredSample, ScoreReport, split_totals
from pertool.scoring.toolspectrum import (
    INDEX,
    ROW,
    final_level,
    first_failure,
    metrics_from_counts,
    outcomes,
    score_row,
)

__all__ = ["score_toolspectrum"]


def score_toolspectrum(samples: Sequence[Sample], given: Mapping[str, str | Prediction | None],
                       *, resamples: int, seed: int,
                       keep_parses: bool = True) -> ScoreReport:  # fmt: skip
    rows: dict[str, list[tuple[int, ...]]] = {}
    by_app: dict[str, list[tuple[int, ...]]] = {}
    scored = []
    for sample in samples:
        prediction = _prediction(sample, given.get(sample.id))
        row = score_row(sample, prediction)
        rows.setdefault(sample.split, []).append(row)
        if sample.gold_platform is not None:
            by_app.setdefault(sample.gold_platform, []).append(row)
        category = first_failure(sample, prediction, row)
        categories = (category,) if category else ()
        parse = prediction if keep_parses else None
        scored.append(ScoredSample(sample.id, sample.split, parse, outcomes(sample, row), categories, row,
                                   prediction.parse_error or ""))  # fmt: skip
    splits = {s: _point({s: r}, [s]) for s, r in rows.items()}
    counts = {s: len(r) for s, r in rows.items()}
    errors = {s: _errors(r) for s, r in rows.items()}
    if len(rows) > 1:
        every = [row for r in rows.values() for row in r]
        splits[OVERALL] = _point(rows, list(rows))
        counts[OVERALL] = len(every)
        errors[OVERALL] = _errors(every)
    intervals = bootstrap_counts(rows, metrics_from_counts, width=len(ROW), resamples=resamples, seed=seed,
                                 overall=len(rows) > 1)  # fmt: skip
    intervals = {s: {k: v for k, v in iv.items() if k in splits[s]} for s, iv in intervals.items()}
    apps = {app: _point({"": r}, sorted(rows)) for app, r in sorted(by_app.items())}
    report = ScoreReport(splits=splits, errors=errors, intervals=intervals, counts=counts, results=[],
                         scored=scored)  # fmt: skip
    report.extra = {"apps": apps, "quality": gold_quality(samples).to_json()}
    return report


def _prediction(sample: Sample, given: str | Prediction | None) -> Prediction:
    if isinstance(given, Prediction):
        return given
    return parse_toolspectrum(given or "", sample.id)


def _point(rows: Mapping[str, list[tuple[int, ...]]], subsets: list[str]) -> dict[str, float | None]:
    """Metrics of rows grouped in any way (their metric levels are those of `subsets`)."""
    metrics = metrics_from_counts(split_totals(rows, len(ROW)), subsets)
    if len(subsets) == 1:  # one subset: only its final level (PP for persona, OP otherwise)
        other = "op_f1" if final_level(subsets[0]) == "pp" else "pp_f1"
        metrics.pop(other, None)
    return {k: (None if np.isnan(v) else float(v)) for k, v in metrics.items()}  # full precision, as PTBench


def _errors(rows: list[tuple[int, ...]]) -> dict[str, int]:
    t = np.sum(np.array(rows), axis=0)
    return {"format": int(t[INDEX["n"]] - t[INDEX["format"]]),
            "repaired": int(t[INDEX["format"]] - t[INDEX["strict"]]),
            "wrong_refusal": int(t[INDEX["refusal_fp"]]),
            "missed_refusal": int(t[INDEX["refusal_fn"]])}  # fmt: skip
