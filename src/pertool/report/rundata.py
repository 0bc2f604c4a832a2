"""A run directory re-loaded for the HTML report: the benchmark named in config.json is loaded
again (same limit and profile view), predictions.jsonl is re-scored with the same compat mode,
bootstrap resamples and seed, and every sample gets its outcome, prompt, parsed call, gold and
the difference between the two. Nothing here writes; everything comes from the run directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pertool.errors import DataError, PertoolError
from pertool.fileio import read_json
from pertool.kinds.score import score
from pertool.parsing.ptbench import parse_ptbench
from pertool.parsing.render import render_value
from pertool.parsing.toolspectrum import parse_toolspectrum
from pertool.runner.run import load_config, select_samples
from pertool.runner.rundir import METRICS, RunDir
from pertool.runner.task import Task
from pertool.schema import Call, GoldCall, Prediction, Sample
from pertool.scoring.bootstrap import bootstrap_intervals, bootstrap_totals
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.ptbench import match_calls
from pertool.scoring.results import ERROR_KEYS, OVERALL, ScoreReport, aggregate
from pertool.scoring.toolspectrum import INDEX, final_level, metrics_from_totals, score_row
from pertool.values import accepts, normalize_text

__all__ = [
    "PTBENCH_CATEGORIES",
    "TOOLSPECTRUM_CATEGORIES",
    "Breakdown",
    "RunData",
    "SampleView",
    "load_run",
]

Kind = Literal["ptbench", "toolspectrum"]

# The paper's Figure 4 categories, then the platform and format counts.
PTBENCH_CATEGORIES = dict(zip((*ERROR_KEYS, "format"), (
    "T-wrong", "T-missing", "T-excessive", "P-missing", "P-excessive", "P-error", "Platform", "Format",
)))  # fmt: skip
# ToolSpectrum's levels cascade, so each wrong answer is counted at the first level it fails.
TOOLSPECTRUM_CATEGORIES = {
    "format": "Format", "wrong_refusal": "Refused valid", "missed_refusal": "Missed refusal",
    "app": "APP wrong", "api": "API wrong", "rp": "RP wrong", "pp": "PP wrong", "op": "OP wrong",
}  # fmt: skip
# Per-sample checks shown in the sample browser, in Table 2 order.
PTBENCH_CHECKS = ("format", "platform", "tool_name", "tool_param", "tool_value", "overall")
TOOLSPECTRUM_CHECKS = ("format", "app", "api", "rp", "final")


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
    parsed: str | None  # the parsed call as text, None when it did not parse
    parse_error: str | None
    gold: str
    diff: dict[str, Any] | None
    checks: dict[str, bool] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # "no prediction", "failed", "no answer", "context overflow", "repaired", ...
    tool_calls: list[Any] | None = None  # native tool mode: the calls as returned


@dataclass
class Breakdown:
    """Metrics per group (scenario or app), shaped like a ScoreReport's splits."""

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
    kind: Kind
    report: ScoreReport
    samples: list[SampleView]
    groups: Breakdown
    param_classes: list[dict[str, Any]]
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


def load_run(path: Path, *, data_dir: str | None = None) -> RunData:
    """Re-load and re-score one run directory. Samples whose request failed (errors.jsonl) are
    `no_answer`: left out of the metrics, listed in the browser with the tag "no answer" (and
    "context overflow" when the prompt did not fit the model's context window)."""
    run = RunDir.open(path)
    settings = load_config(run)
    if data_dir:
        settings.data_dir = data_dir
    config = settings.model_dump(mode="json")
    samples = select_samples(settings)
    records = run.finished()
    outputs = {i: r.get("output") for i, r in records.items()}
    failed = run.failed_ids()
    overflows = set(run.context_overflows())
    report = score(samples, outputs, compat=settings.compat, resamples=settings.resamples,
                   seed=settings.seed, no_answer=failed, context_overflow=overflows)  # fmt: skip
    task = Task(tool_mode=settings.tool_mode, chat_format=settings.chat_format)
    skipped = set(report.no_answer)
    answered = [s for s in samples if s.id not in skipped]
    builder = _toolspectrum_run if samples and samples[0].benchmark == "toolspectrum" else _ptbench_run
    data = builder(path, config, answered, records, report, task, failed)
    data.samples += [_no_answer_view(s, task, s.id in overflows) for s in samples if s.id in skipped]
    metrics_file = path / METRICS
    if metrics_file.is_file():
        try:
            saved = read_json(metrics_file)
        except DataError:
            saved = {}
        data.usage = saved.get("usage") if isinstance(saved, dict) and isinstance(saved.get("usage"), dict) \
            else None  # fmt: skip
        if isinstance(saved, dict) and not _same_numbers(saved.get("splits"), report.splits):
            data.notes.append("metrics.json holds other numbers than this re-score (scored by another "
                              "pertool version, or predictions.jsonl changed since); the report shows "
                              "the re-score.")  # fmt: skip
    if report.no_answer:
        data.notes.append(report.answered_line() + " (the scores cover the answered samples).")
    if report.missing_predictions:
        n = len(report.missing_predictions)
        data.notes.append(f"{n} sample{' has' if n == 1 else 's have'} no prediction; "
                          f"{'it counts' if n == 1 else 'they count'} as unparsable.")
    return data


def _no_answer_view(sample: Sample, task: Task, overflow: bool) -> SampleView:
    """A sample whose request failed (`overflow`: its prompt did not fit the model's context
    window): shown in the browser, in no metric."""
    why = "the request failed (errors.jsonl); retry with --resume"
    tags: tuple[str, ...] = ("no answer",)
    if overflow:
        why = "the prompt did not fit the model's context window (errors.jsonl)"
        tags += ("context overflow",)
    return SampleView(id=sample.id, split=sample.split, group=_group(sample), categories=(), correct=False,
                      output="", prompt=_prompt(task, sample), parsed=None, parse_error="no answer: " + why,
                      gold=_gold_text(sample), diff=None, tags=tags)  # fmt: skip


# --- PTBench-shaped runs ------------------------------------------------------------------------


def _ptbench_run(path: Path, config: dict[str, Any], samples: list[Sample], records: dict[str, Any],
                 report: ScoreReport, task: Task, failed: set[str]) -> RunData:  # fmt: skip
    builtin = any("builtin" in s.extra for s in samples)
    group_name = "scenario" if builtin else "platform"
    views = []
    groups = []
    for sample, result in zip(samples, report.results):
        group = _group(sample)
        groups.append(group)
        record = records.get(sample.id)
        output = str(record.get("output") or "") if record else ""
        prediction = parse_ptbench(output, sample.id, [p.name for p in sample.platforms])
        tags = _tags(sample.id, record, failed)
        views.append(SampleView(
            id=sample.id, split=sample.split, group=group, categories=tuple(result.errors),
            correct=result.overall, output=output, prompt=_prompt(task, sample),
            parsed=_calls_text(prediction.platform, prediction.calls) if prediction.parsed else None,
            parse_error=prediction.parse_error if not prediction.parsed else (result.detail or None),
            gold=_gold_text(sample), diff=_diff(sample, prediction) if prediction.parsed else None,
            checks={k: bool(getattr(result, k)) for k in PTBENCH_CHECKS}, tags=tags,
            tool_calls=record.get("tool_calls") if record else None,
        ))  # fmt: skip
    order = sorted(range(len(samples)), key=lambda i: groups[i])
    regrouped = [replace(report.results[i], split=groups[i]) for i in order]
    metrics, errors, counts = aggregate(regrouped)
    resamples, seed = int(config.get("resamples", DEFAULT_RESAMPLES)), int(config.get("seed", 0))
    intervals = bootstrap_intervals(regrouped, resamples=resamples, seed=seed)
    for table in (metrics, errors, counts, intervals):
        table.pop(OVERALL, None)
    breakdown = Breakdown(group_name, metrics, intervals, counts, errors)
    param_classes = []
    by_split = _by_split(report.results)
    for split in report.splits:
        results = report.results if split == OVERALL else by_split.get(split, [])
        for cls, key in (("query", "query_param"), ("profile", "profile_param")):
            correct = sum(getattr(r, f"{cls}_correct") for r in results)
            total = sum(getattr(r, f"{cls}_total") for r in results)
            param_classes.append({"split": split, "class": cls, "correct": correct, "total": total,
                                  "value": report.splits[split].get(key),
                                  "interval": report.intervals.get(split, {}).get(key)})  # fmt: skip
    return RunData(path=path, label=str(config.get("model", path.name)), config=config, kind="ptbench",
                   report=report, samples=views, groups=breakdown, param_classes=param_classes,
                   categories=dict(PTBENCH_CATEGORIES), category_counts=report.errors)  # fmt: skip


def _group(sample: Sample) -> str:
    builtin = sample.extra.get("builtin")
    if isinstance(builtin, dict) and builtin.get("scenario"):
        return str(builtin["scenario"])
    return sample.gold_platform or "(refusal)"


def _by_split(results: Sequence[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in results:
        out.setdefault(r.split, []).append(r)
    return out


# --- ToolSpectrum runs -------------------------------------------------------------------------


def _toolspectrum_run(path: Path, config: dict[str, Any], samples: list[Sample], records: dict[str, Any],
                      report: ScoreReport, task: Task, failed: set[str]) -> RunData:  # fmt: skip
    views = []
    rows_by_split: dict[str, list[tuple[int, ...]]] = {}
    rows_by_app: dict[str, list[tuple[int, ...]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for sample in samples:
        record = records.get(sample.id)
        output = str(record.get("output") or "") if record else ""
        prediction = parse_toolspectrum(output, sample.id)
        row = score_row(sample, prediction)
        rows_by_split.setdefault(sample.split, []).append(row)
        if sample.gold_platform is not None:
            rows_by_app.setdefault(sample.gold_platform, []).append(row)
        category, checks = _toolspectrum_outcome(sample, prediction, row)
        split_counts = counts.setdefault(sample.split, dict.fromkeys(TOOLSPECTRUM_CATEGORIES, 0))
        if category:
            split_counts[category] += 1
        tags = _tags(sample.id, record, failed)
        tags += ("repaired",) if prediction.repaired else ()
        tags += ("refusal",) if prediction.refusal else ()
        parsed = None
        if prediction.parsed:
            parsed = "refusal (APP: null)" if prediction.refusal else _calls_text(prediction.platform,
                                                                                   prediction.calls)
        views.append(SampleView(
            id=sample.id, split=sample.split, group=sample.gold_platform or "(refusal)",
            categories=(category,) if category else (), correct=bool(row[INDEX["correct"]]), output=output,
            prompt=_prompt(task, sample), parsed=parsed, parse_error=prediction.parse_error,
            gold=_gold_text(sample), diff=_diff(sample, prediction) if prediction.parsed else None,
            checks=checks, tags=tags,
        ))  # fmt: skip
    if len(counts) > 1:
        counts[OVERALL] = {k: sum(c[k] for c in counts.values()) for k in TOOLSPECTRUM_CATEGORIES}
    finals = {final_level(s) for s in rows_by_split}
    categories = {k: v for k, v in TOOLSPECTRUM_CATEGORIES.items() if k not in ("pp", "op") or k in finals}
    counts = {s: {k: c[k] for k in categories} for s, c in counts.items()}
    subsets = sorted(rows_by_split)
    apps = report.extra.get("apps", {})
    app_intervals = bootstrap_totals(rows_by_app, lambda t: metrics_from_totals(t, subsets),
                                     resamples=int(config.get("resamples", DEFAULT_RESAMPLES)),
                                     seed=int(config.get("seed", 0)), overall=False)  # fmt: skip
    breakdown = Breakdown(
        name="app", metrics=apps,
        intervals={a: {k: v for k, v in iv.items() if k in apps.get(a, {})}
                   for a, iv in app_intervals.items()},
        counts={a: len(r) for a, r in rows_by_app.items()},
        errors={},
    )  # fmt: skip
    param_classes = []
    every = [row for rows in rows_by_split.values() for row in rows]
    for split in report.splits:
        rows = every if split == OVERALL else rows_by_split.get(split, [])
        for cls in ("rp", "pp", "op"):
            tp, fp, fn = (sum(r[INDEX[f"{cls}_param_{c}"]] for r in rows) for c in ("tp", "fp", "fn"))
            if tp + fp + fn == 0:
                continue
            param_classes.append({
                "split": split, "class": cls, "tp": tp, "fp": fp, "fn": fn,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
                "value": report.splits[split].get(f"{cls}_param_f1"),
                "interval": report.intervals.get(split, {}).get(f"{cls}_param_f1"),
            })  # fmt: skip
    return RunData(path=path, label=str(config.get("model", path.name)), config=config, kind="toolspectrum",
                   report=report, samples=views, groups=breakdown, param_classes=param_classes,
                   categories=categories, category_counts=counts)  # fmt: skip


def _toolspectrum_outcome(sample: Sample, prediction: Prediction,
                          row: tuple[int, ...]) -> tuple[str | None, dict[str, bool]]:  # fmt: skip
    """The first thing that went wrong (None when correct) and the per-level checks."""
    last = final_level(sample.split)
    levels = {level: bool(row[INDEX[f"{level}_tp"]]) for level in ("app", "api", "rp", last)}
    checks = {"format": prediction.parsed, "app": levels["app"], "api": levels["api"], "rp": levels["rp"],
              "final": levels[last]}  # fmt: skip
    gold_null = sample.gold_platform is None
    if gold_null:
        checks = {"format": prediction.parsed, "refused": prediction.parsed and prediction.refusal}
    if not prediction.parsed:
        return "format", checks
    if gold_null:
        return (None if prediction.refusal else "missed_refusal"), checks
    if prediction.refusal:
        return "wrong_refusal", checks
    for level in ("app", "api", "rp", last):
        if not levels[level]:
            return level, checks
    return None, checks


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


def _same_numbers(saved: Any, fresh: dict[str, dict[str, float | None]]) -> bool:
    if not isinstance(saved, dict):
        return True  # nothing to compare with
    for split, metrics in fresh.items():
        old = saved.get(split)
        if not isinstance(old, dict):
            return False
        for key, value in metrics.items():
            before = old.get(key)
            if (value is None) != (before is None):
                return False
            if value is not None and (not isinstance(before, (int, float)) or abs(value - before) > 1e-6):
                return False
    return True


def fmt_value(value: Any) -> str:
    """A value as a Python literal where possible (never raises)."""
    try:
        return render_value(value)
    except (ValueError, RecursionError):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):
            return repr(value)


def _calls_text(platform: str | None, calls: Sequence[Call]) -> str:
    body = ", ".join(f"{c.name}({', '.join(f'{k}={fmt_value(v)}' for k, v in c.arguments.items())})"
                     for c in calls)  # fmt: skip
    return f"{platform if platform is not None else '?'}:[{body}]"


def _gold_text(sample: Sample) -> str:
    if sample.gold_platform is None:
        return "refusal (APP: null)"
    body = ", ".join(f"{g.name}({', '.join(f'{k}={_accepted(v)}' for k, v in g.arguments.items())})"
                     for g in sample.gold_calls)  # fmt: skip
    return f"{sample.gold_platform}:[{body}]"


def _accepted(values: Sequence[Any]) -> str:
    return " | ".join(fmt_value(v) for v in values) if values else "(any)"


def _same_platform(predicted: str | None, gold: str | None) -> bool:
    if predicted is None or gold is None:
        return predicted is gold
    return normalize_text(predicted) == normalize_text(gold)


def _diff(sample: Sample, prediction: Prediction) -> dict[str, Any]:
    """Parsed vs gold: the platform, then each gold call (matched or missing), then extra calls;
    per call each parameter as ok, wrong (value not accepted), missing or extra."""
    out: dict[str, Any] = {"platform": [prediction.platform, sample.gold_platform,
                                        _same_platform(prediction.platform, sample.gold_platform)]}
    if prediction.refusal or sample.gold_platform is None:
        out["refusal"] = [prediction.refusal, sample.gold_platform is None]
        if prediction.refusal or not prediction.calls:
            out["calls"] = [_gold_only(g, "missing") for g in sample.gold_calls]
            return out
    pairs, missing, extra = match_calls(sample.gold_calls, prediction.calls)
    paired = {id(g): c for g, c in pairs}
    unmatched = {id(g) for g in missing}
    calls = []
    for gold in sample.gold_calls:
        if id(gold) in unmatched:
            calls.append(_gold_only(gold, "missing"))
        elif id(gold) in paired:
            calls.append(_pair(gold, paired[id(gold)]))
    for call in extra:
        calls.append({"name": call.name, "status": "extra",
                      "params": [[k, "extra", fmt_value(v), "", ""] for k, v in call.arguments.items()]})
    out["calls"] = calls
    return out


def _gold_only(gold: GoldCall, status: str) -> dict[str, Any]:
    params = [[k, "missing", "", _accepted(v), gold.sources.get(k, "")] for k, v in gold.arguments.items()]
    return {"name": gold.name, "status": status, "params": params}


def _pair(gold: GoldCall, call: Call) -> dict[str, Any]:
    params = []
    for name, accepted in gold.arguments.items():
        source = gold.sources.get(name, "")
        if name not in call.arguments:
            params.append([name, "missing", "", _accepted(accepted), source])
        else:
            value = call.arguments[name]
            status = "ok" if accepts(accepted, value) else "wrong"
            params.append([name, status, fmt_value(value), _accepted(accepted), source])
    for name, value in call.arguments.items():
        if name not in gold.arguments:
            params.append([name, "extra", fmt_value(value), "", ""])
    status = "ok" if all(p[1] == "ok" for p in params) else "diff"
    return {"name": call.name, "status": status, "params": params}
