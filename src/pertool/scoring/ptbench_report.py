"""PTBench-shaped answers scored into a `ScoreReport`: ours or the public scripts' rules
(`--compat ptbench-official`), aggregated the same way, each sample's decision kept in
`ScoreReport.scored` with the parse that mode used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pertool.benchmarks.quality import gold_quality
from pertool.parsing.ptbench import parse_ptbench
from pertool.schema import Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_intervals
from pertool.scoring.ptbench import score_sample
from pertool.scoring.ptbench_official import score_official
from pertool.scoring.results import SampleResult, ScoreReport, aggregate, scored_sample

__all__ = ["score_ptbench", "score_results"]


def score_ptbench(samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
                  compat: str | None, resamples: int, seed: int,
                  keep_parses: bool = True) -> ScoreReport:  # fmt: skip
    results, parses = [], []
    for sample in samples:
        result, prediction = _score_one(sample, given.get(sample.id), compat)
        results.append(result)
        parses.append(prediction if keep_parses else None)  # parses held only when wanted
    rows = [r.count_row() for r in results]
    report = score_results(results, resamples=resamples, seed=seed, rows=rows)
    report.scored = [scored_sample(r, p, row) for r, p, row in zip(results, parses, rows)]
    report.extra["quality"] = gold_quality(samples).to_json()  # golds that can never match
    return report


def score_results(results: list[SampleResult], *, resamples: int, seed: int,
                  rows: list[tuple[int, ...]] | None = None) -> ScoreReport:  # fmt: skip
    rows = [r.count_row() for r in results] if rows is None else rows
    metrics, errors, counts = aggregate(results, rows)
    intervals = bootstrap_intervals(results, resamples=resamples, seed=seed, rows=rows)
    return ScoreReport(splits=metrics, errors=errors, intervals=intervals, counts=counts, results=results)


def _score_one(sample: Sample, given: str | Prediction | None,
               compat: str | None) -> tuple[SampleResult, Prediction]:  # fmt: skip
    raw = given.raw_output if isinstance(given, Prediction) else (given or "")
    if compat == "ptbench-official":
        return score_official(sample, raw)
    platforms = [p.name for p in sample.platforms]
    prediction = given if isinstance(given, Prediction) else parse_ptbench(raw, sample.id, platforms)
    return score_sample(sample, prediction), prediction

