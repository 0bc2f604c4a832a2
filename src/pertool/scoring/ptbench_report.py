"""PTBench-shaped answers scored into a `ScoreReport`: ours or the public scripts' rules
(`--compat ptbench-official`), aggregated the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pertool.benchmarks.quality import gold_quality
from pertool.parsing.ptbench import parse_ptbench
from pertool.schema import Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_intervals
from pertool.scoring.ptbench import score_sample
from pertool.scoring.ptbench_official import score_sample_official
from pertool.scoring.results import SampleResult, ScoreReport, aggregate

__all__ = ["score_ptbench", "score_results"]


def score_ptbench(samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
                  compat: str | None, resamples: int, seed: int) -> ScoreReport:  # fmt: skip
    results = [_score_one(sample, given.get(sample.id), compat) for sample in samples]
    report = score_results(results, resamples=resamples, seed=seed)
    report.extra["quality"] = gold_quality(samples).to_json()  # golds that can never match
    return report


def score_results(results: list[SampleResult], *, resamples: int, seed: int) -> ScoreReport:
    metrics, errors, counts = aggregate(results)
    intervals = bootstrap_intervals(results, resamples=resamples, seed=seed)
    return ScoreReport(splits=metrics, errors=errors, intervals=intervals, counts=counts, results=results)


def _score_one(sample: Sample, given: str | Prediction | None, compat: str | None) -> SampleResult:
    raw = given.raw_output if isinstance(given, Prediction) else (given or "")
    if compat == "ptbench-official":
        return score_sample_official(sample, raw)
    platforms = [p.name for p in sample.platforms]
    prediction = given if isinstance(given, Prediction) else parse_ptbench(raw, sample.id, platforms)
    return score_sample(sample, prediction)
