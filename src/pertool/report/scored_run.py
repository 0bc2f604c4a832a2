"""A run directory as the scorer left it, for reports and compare: the samples its config
selects, what was scored per sample (scores.jsonl) and the report (metrics.json), never a
re-parse.

A run whose metrics.json names a `benchmark_fingerprint` other than the one of the samples its
config selects now was scored against other benchmark content: it is refused (re-score it). A
run written by an older pertool (no scores.jsonl or no fingerprint), or one whose scores.jsonl
lacks answers that predictions.jsonl holds (a resume that stopped before its end), is re-scored
once, in memory, from predictions.jsonl, with a note saying so; nothing is written.

`partial` (`pertool view`, a run still being written): samples without a prediction yet are
left out of the metrics like failed requests, instead of scoring as unparsable answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pertool.errors import DataError, PertoolError
from pertool.fileio import read_json
from pertool.kinds import BenchmarkKind, kind_of_samples
from pertool.kinds.score import score
from pertool.runner.fingerprint import FINGERPRINT_KEY, SCORED_FILES_KEY, benchmark_fingerprint
from pertool.runner.run import EvalConfig, load_config, select_samples
from pertool.runner.rundir import METRICS, PREDICTIONS, SCORES, RunDir
from pertool.schema import Sample
from pertool.scoring.results import ScoredSample, ScoreReport, scored_samples

__all__ = ["ScoredRun", "load_scored_run"]

# metrics.json keys that describe the run, not the scores
RUN_KEYS = ("usage", "failed", "context_overflow_ids", "context_window", FINGERPRINT_KEY, SCORED_FILES_KEY)


@dataclass
class ScoredRun:
    path: Path
    config: EvalConfig
    samples: list[Sample]  # every sample the config selects, in run order
    kind: BenchmarkKind
    report: ScoreReport  # its `scored` in sample order, no-answer samples left out
    records: dict[str, dict[str, Any]]  # predictions.jsonl by id
    failed: set[str]
    overflows: set[str]
    saved: dict[str, Any] | None  # metrics.json as written
    notes: list[str] = field(default_factory=list)

    @property
    def scored(self) -> dict[str, ScoredSample]:
        return {s.sample_id: s for s in self.report.scored}


def load_scored_run(path: Path, *, data_dir: str | None = None, partial: bool = False) -> ScoredRun:
    run = RunDir.open(path)
    config = load_config(run)
    if data_dir:
        config.data_dir = data_dir
    samples = select_samples(config)
    kind = kind_of_samples(samples)
    records = run.finished()
    failed = run.failed_ids()
    overflows = set(run.context_overflows())
    saved = _saved(path / METRICS)
    stored = saved.get(FINGERPRINT_KEY) if saved else None
    if stored is not None and stored != benchmark_fingerprint(samples, config.compat):
        raise PertoolError(f"{path} was scored against other content of {config.benchmark} than it holds "
                           f"now ({FINGERPRINT_KEY} differs); re-score the run with `pertool eval --resume "
                           f"{path}` (or score its predictions with `pertool score`)")  # fmt: skip
    empty = ScoreReport({}, {}, {}, {})
    out = ScoredRun(path, config, samples, kind, empty, records, failed, overflows, saved)
    changed = _changed_since_scored(run, saved) if stored is not None else []
    stored_scores = None
    if stored is not None and saved and not changed:
        stored_scores = _stored_scores(run, samples, records, failed)
    if stored_scores is not None and saved is not None:
        report = ScoreReport.from_json(saved, kind=kind.name, exclude=RUN_KEYS)
        overflow_ids = [str(i) for i in saved.get("context_overflow_ids", [])]
        report.no_answer = sorted({str(i) for i in saved.get("failed", [])} | set(overflow_ids))
        report.context_overflow = overflow_ids
        report.scored = stored_scores
        out.report = report
        return out
    outputs = {i: r.get("output") for i, r in records.items()}
    pending = {s.id for s in samples if s.id not in records} if partial else set()
    out.report = score(samples, outputs, compat=config.compat, resamples=config.resamples, seed=config.seed,
                       no_answer=failed | pending, context_overflow=overflows)  # fmt: skip
    if changed:
        out.notes.append(f"{', '.join(changed)} changed since the run was scored (edited, or the run was "
                         "stopped between its final writes): re-scored from predictions.jsonl; "
                         f"`pertool eval --resume {path}` stores the scores again.")  # fmt: skip
    elif stored is None:
        out.notes.append(f"written by an older pertool (no {SCORES} or {FINGERPRINT_KEY}): re-scored from "
                         "predictions.jsonl; whether the benchmark changed since cannot be checked. "
                         f"`pertool eval --resume {path}` stores the scores.")  # fmt: skip
    else:
        out.notes.append(f"{SCORES} does not cover every answer in predictions.jsonl (a resume that did not "
                         f"finish?): re-scored from predictions.jsonl; `pertool eval --resume {path}` "
                         "finishes it.")  # fmt: skip
    return out


def _changed_since_scored(run: RunDir, saved: dict[str, Any] | None) -> list[str]:
    """The files whose digest differs from the one metrics.json recorded when the run was
    scored (none recorded: an older run, nothing to compare)."""
    recorded = saved.get(SCORED_FILES_KEY) if saved else None
    if not isinstance(recorded, dict):
        return []
    return [name for name in (SCORES, PREDICTIONS) if name in recorded and recorded[name] != run.digest(name)]


def _saved(file: Path) -> dict[str, Any] | None:
    if not file.is_file():
        return None
    try:
        saved = read_json(file)
    except DataError:
        return None
    return saved if isinstance(saved, dict) and isinstance(saved.get("splits"), dict) else None


def _stored_scores(run: RunDir, samples: list[Sample], records: dict[str, Any],
                   failed: set[str]) -> list[ScoredSample] | None:  # fmt: skip
    """scores.jsonl in sample order, or None when it does not cover what was answered."""
    lines = run.scores()
    if lines is None:
        return None
    by_id = {scored.sample_id: scored for scored in scored_samples(lines)}
    wanted = [s.id for s in samples if s.id in records or s.id not in failed]
    if any(i not in by_id for i in wanted):
        return None
    return [by_id[i] for i in wanted]
