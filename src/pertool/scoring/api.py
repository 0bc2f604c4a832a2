"""`score()`: samples + model outputs -> a `ScoreReport` (metrics, errors, intervals)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from pertool.benchmarks.quality import gold_quality
from pertool.errors import PertoolError
from pertool.parsing.ptbench import parse_ptbench
from pertool.schema import Prediction, Sample
from pertool.scoring.bootstrap import DEFAULT_RESAMPLES, bootstrap_intervals
from pertool.scoring.ptbench import score_sample
from pertool.scoring.ptbench_official import score_sample_official
from pertool.scoring.results import SampleResult, ScoreReport, aggregate
from pertool.scoring.toolspectrum_api import score_toolspectrum

__all__ = ["COMPAT_MODES", "score", "score_results"]

COMPAT_MODES = ("ptbench-official",)


def score(
    samples: Sequence[Sample],
    predictions: Mapping[str, str | Prediction | None] | Iterable[Prediction],
    *,
    compat: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    no_answer: Collection[str] = (),
    context_overflow: Collection[str] = (),
) -> ScoreReport:
    """Score model outputs (raw text or parsed `Prediction`s, keyed by sample id).

    A sample without a prediction is scored as an empty (unparsable) answer and listed in
    `missing_predictions`, unless its id is in `no_answer` (its request failed: a server or
    transport failure, not the model's answer): such samples are left out of every metric and
    counted apart (`ScoreReport.no_answer`); those also in `context_overflow` (the prompt did not
    fit the model's context window) are listed in `ScoreReport.context_overflow`. A prediction
    whose id names no sample is listed in `unknown_predictions`. `compat="ptbench-official"`
    reproduces the public scripts.
    """
    if compat is not None and compat not in COMPAT_MODES:
        raise PertoolError(f"unknown compatibility mode {compat!r}; known: {', '.join(COMPAT_MODES)}")
    by_id = _by_id(predictions)
    ids = {s.id for s in samples}
    unanswered = [s.id for s in samples if s.id in no_answer and s.id not in by_id]
    if unanswered:
        skipped = set(unanswered)
        samples = [s for s in samples if s.id not in skipped]
    report = _score(samples, by_id, ids, compat, resamples, seed)
    report.no_answer = unanswered
    report.context_overflow = [i for i in unanswered if i in context_overflow]
    return report


def _score(samples: Sequence[Sample], by_id: dict[str, str | Prediction | None], ids: set[str],
           compat: str | None, resamples: int, seed: int) -> ScoreReport:  # fmt: skip
    if samples and samples[0].benchmark == "toolspectrum":
        if compat:
            raise PertoolError(f"--compat {compat} applies to PTBench, not ToolSpectrum")
        report = score_toolspectrum(samples, by_id, resamples=resamples, seed=seed)
        report.mode = "pertool"
        report.missing_predictions = [s.id for s in samples if s.id not in by_id]
        report.unknown_predictions = [i for i in by_id if i not in ids]
        report.extra["quality"] = gold_quality(samples).to_json()
        return report
    results = []
    missing = []
    for sample in samples:
        given = by_id.get(sample.id)
        if given is None:
            missing.append(sample.id)
        results.append(_score_one(sample, given, compat))
    report = score_results(results, resamples=resamples, seed=seed)
    report.mode = compat or "pertool"
    report.missing_predictions = missing
    report.unknown_predictions = [i for i in by_id if i not in ids]
    report.extra["quality"] = gold_quality(samples).to_json()  # golds that can never match
    return report


def score_results(results: list[SampleResult], *, resamples: int, seed: int) -> ScoreReport:
    metrics, errors, counts = aggregate(results)
    intervals = bootstrap_intervals(results, resamples=resamples, seed=seed)
    return ScoreReport(splits=metrics, errors=errors, intervals=intervals, counts=counts, results=results)


def _by_id(predictions: Mapping | Iterable[Prediction]) -> dict[str, str | Prediction | None]:
    if isinstance(predictions, Mapping):
        return dict(predictions)
    return {p.sample_id: p for p in predictions}


def _score_one(sample: Sample, given: str | Prediction | None, compat: str | None) -> SampleResult:
    raw = given.raw_output if isinstance(given, Prediction) else (given or "")
    if compat == "ptbench-official":
        return score_sample_official(sample, raw)
    platforms = [p.name for p in sample.platforms]
    prediction = given if isinstance(given, Prediction) else parse_ptbench(raw, sample.id, platforms)
    return score_sample(sample, prediction)
