"""`score()`: samples + model outputs -> a `ScoreReport` (metrics, errors, intervals).

The samples' benchmark kind scores them (`BenchmarkKind.score`); what is common to every kind
(samples without an answer, predictions for unknown ids, the compat mode's name) is here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from pertool.collector import collector_paused
from pertool.errors import PertoolError
from pertool.kinds.kind import BenchmarkKind, all_kinds, kind_of_samples
from pertool.schema import Prediction, Sample
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.ptbench_report import score_results
from pertool.scoring.results import ScoreReport

__all__ = ["check_compat", "compat_modes", "score", "score_results"]


def compat_modes() -> tuple[str, ...]:
    """Every kind's --compat modes."""
    return tuple(mode for kind in all_kinds() for mode in kind.compat_modes)


def check_compat(kind: BenchmarkKind, compat: str | None) -> None:
    """A --compat mode the samples' kind does not have is a PertoolError (said before a run asks
    the model anything, and again when scoring)."""
    if compat is None or compat in kind.compat_modes:
        return
    known = compat_modes()
    if compat in known:
        modes = ", ".join(kind.compat_modes)
        raise PertoolError(f"--compat {compat} does not apply to {kind.name} samples; "
                           + (f"its modes: {modes}" if modes else "it has no compatibility mode"))
    raise PertoolError(f"unknown compatibility mode {compat!r}; known: {', '.join(known)}")


def score(
    samples: Sequence[Sample],
    predictions: Mapping[str, str | Prediction | None] | Iterable[Prediction],
    *,
    compat: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    no_answer: Collection[str] = (),
    context_overflow: Collection[str] = (),
    keep_parses: bool = True,
) -> ScoreReport:
    """Score model outputs (raw text or parsed `Prediction`s, keyed by sample id).

    A sample without a prediction is scored as an empty (unparsable) answer and listed in
    `missing_predictions`, unless its id is in `no_answer` (its request failed: a server or
    transport failure, not the model's answer): such samples are left out of every metric and
    counted apart (`ScoreReport.no_answer`); those also in `context_overflow` (the prompt did not
    fit the model's context window) are listed in `ScoreReport.context_overflow`. A prediction
    whose id names no sample is listed in `unknown_predictions`. `compat` names one of the
    kind's modes that reproduce a public script (`ptbench-official`, `petoolbench-public`).
    `keep_parses=False` leaves `ScoredSample.prediction` None in `report.scored` (a caller that
    neither stores nor shows the parses: `pertool score` without --samples holds none then).
    """
    kind = kind_of_samples(samples)
    check_compat(kind, compat)
    by_id = _by_id(predictions)
    ids = {s.id for s in samples}
    unanswered = [s.id for s in samples if s.id in no_answer and s.id not in by_id]
    if unanswered:
        skipped = set(unanswered)
        samples = [s for s in samples if s.id not in skipped]
    with collector_paused():  # a record per sample lives on: no collector pass over them all
        report = kind.score(samples, by_id, compat=compat, resamples=resamples, seed=seed,
                            keep_parses=keep_parses)
    report.mode = compat or "pertool"
    report.kind = kind.name
    report.missing_predictions = [s.id for s in samples if s.id not in by_id]
    report.unknown_predictions = [i for i in by_id if i not in ids]
    report.no_answer = unanswered
    report.context_overflow = [i for i in unanswered if i in context_overflow]
    return report


def _by_id(predictions: Mapping | Iterable[Prediction]) -> dict[str, str | Prediction | None]:
    if isinstance(predictions, Mapping):
        return dict(predictions)
    return {p.sample_id: p for p in predictions}
