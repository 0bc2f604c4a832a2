"""A run directory loaded for the HTML report: what the scorer decided per sample
(scores.jsonl, via `scored_run`) and the run's scores (metrics.json), the prompts rebuilt from
the benchmark named in config.json (same limit and profile view). Every sample gets its
outcome, prompt, the parse the scorer used, gold and the difference between the two; the
kind's breakdowns (`BenchmarkKind.breakdowns`) are computed from the stored count rows. Nothing
here writes, and nothing is re-parsed (a run of an older pertool is re-scored once, noted).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pertool.errors import PertoolError
from pertool.kinds import BenchmarkKind
from pertool.report.scored_run import ScoredRun, load_scored_run
from pertool.runner.task import Task
from pertool.schema import Sample
from pertool.scoring.bootstrap import bootstrap_samples
from pertool.scoring.results import OVERALL, ScoredSample, ScoreReport, point_metrics

__all__ = ["Breakdown", "RunData", "SampleView", "load_run", "main_category_counts", "shown_categories"]


@dataclass
class SampleView:
    """One sample as the browser shows it; `diff` pairs the parsed call with the gold."""

    id: str
    split: str
    group: str
    categories: tuple[str, ...]
    correct: bool
    output: str
    prompt: list[tuple[str, str]]  # (role, content); a raw-completion prompt has role "prompt"
    parsed: str | None  # the parse the scorer used, as text; None when it did not parse
    parse_error: str | None
    gold: str
    diff: dict[str, Any] | None
    checks: dict[str, bool] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # "no prediction", "failed", "no answer", "context overflow", "repaired", ...
    tool_calls: list[Any] | None = None  # native tool mode: the calls as returned


@dataclass
class Breakdown:
    """Metrics per group (one of the kind's breakdowns), shaped like a ScoreReport's splits."""

    name: str
    metrics: dict[str, dict[str, float | None]]
    intervals: dict[str, dict[str, list[float] | None]]
    counts: dict[str, int]
    errors: dict[str, dict[str, int]]


@dataclass
class RunData:
    path: Path
    label: str
    config: dict[str, Any]
    kind: BenchmarkKind
    report: ScoreReport
    samples: list[SampleView]
    breakdowns: list[Breakdown]
    categories: dict[str, str]  # error key -> title, in chart order
    category_counts: dict[str, dict[str, int]]  # split (and overall) -> key -> samples
    usage: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def benchmark(self) -> str:
        return str(self.config.get("benchmark", "?"))

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def groups(self) -> Breakdown:
        """The first breakdown (the sample browser's group filter)."""
        return self.breakdowns[0] if self.breakdowns else Breakdown("group", {}, {}, {}, {})


def load_run(path: Path, *, data_dir: str | None = None) -> RunData:
    """Load one run directory. Samples whose request failed (errors.jsonl) are `no_answer`: left
    out of the metrics, listed in the browser with the tag "no answer" (and "context overflow"
    when the prompt did not fit the model's context window)."""
    loaded = load_scored_run(path, data_dir=data_dir)
    settings, kind, report = loaded.config, loaded.kind, loaded.report
    task = Task(tool_mode=settings.tool_mode, chat_format=settings.chat_format)
    scored = loaded.scored
    breakdowns = kind.breakdowns()
    first = next(iter(breakdowns.values()), None)
    categories = shown_categories(kind, report.scored)
    views = []
    for sample in loaded.samples:
        group = (first(sample) if first else None) or ""
        if sample.id in scored:
            views.append(_view(kind, sample, scored[sample.id], loaded, task, group))
        else:
            views.append(_no_answer_view(kind, sample, task, group, sample.id in loaded.overflows))
    data = RunData(path=path, label=settings.model, config=settings.model_dump(mode="json"), kind=kind,
                   report=report, samples=views, breakdowns=_breakdowns(loaded, categories),
                   categories=categories, category_counts=_category_counts(report.scored, categories),
                   notes=list(loaded.notes))  # fmt: skip
    usage = (loaded.saved or {}).get("usage")
    data.usage = usage if isinstance(usage, dict) else None
    if report.no_answer:
        data.notes.append(report.answered_line() + " (the scores cover the answered samples).")
    if report.missing_predictions:
        n = len(report.missing_predictions)
        data.notes.append(f"{n} sample{' has' if n == 1 else 's have'} no prediction; "
                          f"{'it counts' if n == 1 else 'they count'} as unparsable.")
    return data


def shown_categories(kind: BenchmarkKind, scored: Sequence[ScoredSample]) -> dict[str, str]:
    """The error categories a report shows, in the kind's order: those the kind also counts in
    its report (`error_titles`), shown even at zero, and any other that occurs (a level that
    does not exist in these splits never does)."""
    seen = {c for s in scored for c in s.categories}
    return {k: t for k, t in kind.category_titles.items() if k in kind.error_titles or k in seen}


def _category_counts(scored: Sequence[ScoredSample],
                     categories: dict[str, str]) -> dict[str, dict[str, int]]:  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for s in scored:
        row = counts.setdefault(s.split, dict.fromkeys(categories, 0))
        for c in s.categories:
            if c in row:
                row[c] += 1
    if len(counts) > 1:
        counts[OVERALL] = {k: sum(c[k] for c in counts.values()) for k in categories}
    return counts


def main_category_counts(run: RunData) -> dict[str, int]:
    """The run's error counts over all its splits, whatever their number (a run of one split
    has no overall row)."""
    counts = run.category_counts
    if OVERALL in counts:
        return counts[OVERALL]
    return {k: sum(row.get(k, 0) for row in counts.values()) for k in run.categories}


def _breakdowns(run: ScoredRun, categories: dict[str, str]) -> list[Breakdown]:
    """Each of the kind's breakdowns: per group, its samples' stored count rows summed per split
    (the run's splits, so that the group's metrics mean what the run's do) and put through the
    kind's `metrics_from_counts`; intervals bootstrapped from the same rows, drawing the kind's
    clusters (`cluster_key`) as the scorer does."""
    kind, scored = run.kind, run.report.scored
    if not scored:
        return []
    by_id = {s.id: s for s in run.samples}
    splits = list(dict.fromkeys(s.split for s in scored))
    width = len(scored[0].counts)
    out = []
    for name, category_of in kind.breakdowns().items():
        groups: dict[str, list[ScoredSample]] = {}
        for s in scored:
            group = category_of(by_id[s.sample_id])
            if group is not None:
                groups.setdefault(group, []).append(s)
        metrics, intervals, counts, errors = {}, {}, {}, {}
        for group, members in sorted(groups.items()):
            rows = {split: [m.counts for m in members if m.split == split] for split in splits}
            totals = np.stack([np.array(r, dtype=np.float64).reshape(len(r), width).sum(axis=0)
                               for r in rows.values()])  # fmt: skip
            metrics[group] = point_metrics(totals, splits, kind.metrics_from_counts)
            drawn = bootstrap_samples([m.counts for m in members], [m.split for m in members],
                                      [kind.cluster_key(by_id[m.sample_id]) for m in members],
                                      kind.metrics_from_counts, width=width, split_names=splits,
                                      resamples=run.config.resamples, seed=run.config.seed)  # fmt: skip
            intervals[group] = drawn.get(OVERALL, {})
            counts[group] = len(members)
            errors[group] = {k: sum(k in m.categories for m in members) for k in categories}
        out.append(Breakdown(name, metrics, intervals, counts, errors))
    return out


def _view(kind: BenchmarkKind, sample: Sample, scored: ScoredSample, run: ScoredRun, task: Task,
          group: str) -> SampleView:  # fmt: skip
    record = run.records.get(sample.id)
    output = str(record.get("output") or "") if record else ""
    prediction = scored.prediction
    tags = _tags(sample.id, record, run.failed)
    if prediction is not None:
        tags += ("repaired",) if prediction.repaired else ()
        tags += ("refusal",) if prediction.refusal else ()
    parsed = None
    if prediction is not None and (prediction.parsed or prediction.calls or prediction.platform):
        calls = kind.shown_answer(sample, prediction.platform, prediction.calls)
        parsed = "refusal (APP: null)" if prediction.refusal else calls
    if prediction is not None and not prediction.parsed:
        parse_error = prediction.parse_error
    else:
        parse_error = scored.detail or None
    return SampleView(
        id=sample.id, split=sample.split, group=group, categories=scored.categories,
        correct=bool(scored.outcomes.get(kind.headline)), output=output, prompt=_prompt(task, sample),
        parsed=parsed, parse_error=parse_error, gold=kind.shown_gold(sample),
        diff=(kind.diff(sample, prediction, compat=run.config.compat)
              if parsed is not None and prediction is not None else None),
        checks={k: v for k, v in scored.outcomes.items() if isinstance(v, bool)}, tags=tags,
        tool_calls=record.get("tool_calls") if record else None,
    )  # fmt: skip


def _no_answer_view(kind: BenchmarkKind, sample: Sample, task: Task, group: str,
                    overflow: bool) -> SampleView:  # fmt: skip
    """A sample whose request failed (`overflow`: its prompt did not fit the model's context
    window): shown in the browser, in no metric."""
    why = "the request failed (errors.jsonl); retry with --resume"
    tags: tuple[str, ...] = ("no answer",)
    if overflow:
        why = "the prompt did not fit the model's context window (errors.jsonl)"
        tags += ("context overflow",)
    return SampleView(id=sample.id, split=sample.split, group=group, categories=(), correct=False,
                      output="", prompt=_prompt(task, sample), parsed=None, parse_error="no answer: " + why,
                      gold=kind.shown_gold(sample), diff=None, tags=tags)  # fmt: skip


# --- shared pieces -----------------------------------------------------------------------------


def _prompt(task: Task, sample: Sample) -> list[tuple[str, str]]:
    try:
        request = task.request(sample)
    except (ValueError, OSError, KeyError, PertoolError) as exc:  # e.g. a template file gone
        return [("note", f"the prompt cannot be rebuilt: {exc}")]
    if request.prompt is not None:
        out = [("prompt", request.prompt)]
    else:
        out = [(str(m.get("role", "?")), _text(m.get("content", ""))) for m in request.messages]
    if request.tools:
        out.append(("tools", json.dumps(list(request.tools), indent=1, ensure_ascii=False)))
    return out


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _tags(sample_id: str, record: dict[str, Any] | None, failed: set[str]) -> tuple[str, ...]:
    tags: tuple[str, ...] = () if record else ("no prediction",)
    return tags + (("failed",) if sample_id in failed else ())
