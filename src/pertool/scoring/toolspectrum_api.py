"""`score()` for ToolSpectrum samples: per subset, overall and per app, with intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pertool.benchmarks.quality import gold_quality
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.schema import Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_totals
from pertool.scoring.results import OVERALL, ScoreReport
from pertool.scoring.toolspectrum import INDEX, final_level, metrics_from_totals, score_row

__all__ = ["score_toolspectrum"]


def score_toolspectrum(samples: Sequence[Sample], given: Mapping[str, str | Prediction | None],
                       *, resamples: int, seed: int) -> ScoreReport:  # fmt: skip
    rows: dict[str, list[tuple[int, ...]]] = {}
    by_app: dict[str, list[tuple[int, ...]]] = {}
    for sample in samples:
        prediction = _prediction(sample, given.get(sample.id))
        row = score_row(sample, prediction)
        rows.setdefault(sample.split, []).append(row)
        if sample.gold_platform is not None:
            by_app.setdefault(sample.gold_platform, []).append(row)
    splits = {s: _point(r, [s]) for s, r in rows.items()}
    counts = {s: len(r) for s, r in rows.items()}
    errors = {s: _errors(r) for s, r in rows.items()}
    if len(rows) > 1:
        every = [row for r in rows.values() for row in r]
        splits[OVERALL] = _point(every, list(rows))
        counts[OVERALL] = len(every)
        errors[OVERALL] = _errors(every)

    def metric_fn(subsets: list[str]) -> Any:
        return lambda totals: metrics_from_totals(totals, subsets)

    intervals = {}
    for split, split_rows in rows.items():
        intervals.update(bootstrap_totals({split: split_rows}, metric_fn([split]), resamples=resamples,
                                          seed=seed, overall=False))  # fmt: skip
    if len(rows) > 1:
        pooled = bootstrap_totals(rows, metric_fn(list(rows)), resamples=resamples, seed=seed)
        if OVERALL in pooled:
            intervals[OVERALL] = pooled[OVERALL]
    intervals = {s: {k: v for k, v in iv.items() if k in splits[s]} for s, iv in intervals.items()}
    apps = {app: _point(r, sorted({s for s in rows}))  for app, r in sorted(by_app.items())}
    report = ScoreReport(splits=splits, errors=errors, intervals=intervals, counts=counts, results=[])
    report.extra = {"apps": apps, "quality": gold_quality(samples).to_json()}
    return report


def _prediction(sample: Sample, given: str | Prediction | None) -> Prediction:
    if isinstance(given, Prediction):
        return given
    return parse_toolspectrum(given or "", sample.id)


def _point(rows: list[tuple[int, ...]], subsets: list[str]) -> dict[str, float | None]:
    totals = np.sum(np.array(rows, dtype=np.float64), axis=0)
    metrics = metrics_from_totals(totals, subsets)
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
