"""`pertool ablate`: the paper's profile ablation (section 5.3, Table 3 and Figure 3) in one command.

Each condition is one ordinary run directory under the output directory (DIR/all, DIR/no-basic,
...), run by the runner (`run_eval`, so cached, concurrent and resumable: running `pertool
ablate` again with the same --out finishes what is missing and re-scores the rest for free);
then the table (rows: conditions, columns: the benchmark's metrics with 95% intervals) goes to
the terminal, DIR/ablation.md and DIR/ablation.csv, and a grouped bar chart to DIR/ablation.svg.

Conditions are the benchmark kind's (`BenchmarkKind.ablation_conditions`; the first hides
nothing): PTBench-shaped benchmarks the profile views all, no-basic, no-history, none;
ToolSpectrum both, persona-only (the environment blanked) and environment-only (the persona
blanked). Each condition but the first is the profile view of its name (`pertool.benchmarks.
views`; the first is `all`), recorded in the run's config.json, so `pertool eval --resume` works;
the kind's `ablation_samples` shows the samples as the condition does. The gold answers are
unchanged. DIR/<condition>/ablation.json names the condition and what it blanked (the parts of
a sample, persona or environment, that it empties; null when none is emptied whole).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertool.errors import DataError, PertoolError
from pertool.fileio import read_json
from pertool.kinds import BenchmarkKind, kind_of_samples
from pertool.report.csv_cells import csv_text
from pertool.schema import Sample
from pertool.scoring.results import OVERALL, ScoreReport

__all__ = [
    "AblationRow",
    "ablation_rows",
    "chart_metrics",
    "condition_view",
    "format_csv",
    "format_markdown",
    "format_svg",
    "format_terminal",
    "run_ablation",
    "write_outputs",
]

ABLATION_FILE = "ablation.json"


def condition_view(kind: BenchmarkKind, condition: str) -> str:
    """The profile view a condition runs under: `all` for the first (nothing hidden), else the
    view of its name."""
    return "all" if condition == kind.ablation_conditions[0] else condition


def _blanked(kind: BenchmarkKind, samples: Sequence[Sample], condition: str) -> str | None:
    """The part of a sample the condition empties whole (persona or environment), if one: seen
    on a probe sample whose persona and environment both hold something."""
    if not samples:
        return None
    from pertool.schema import Environment, Profile

    full = {"profile": Profile(basic_features={"probe": 1}),
            "environment": Environment.model_validate({"probe": 1})}
    probe = samples[0].model_copy(update=full)
    shown = kind.ablation_samples([probe], condition)[0]
    persona = not shown.profile.basic_features
    environment = shown.environment is not None and not shown.environment.model_dump()
    if persona != environment:
        return "persona" if persona else "environment"
    return None


@dataclass
class AblationRow:
    condition: str
    path: Path
    report: ScoreReport
    kind: BenchmarkKind | None = None  # the benchmark's kind (from the report when not given)

    def __post_init__(self) -> None:
        if self.kind is None:
            from pertool.kinds import kind_named

            self.kind = kind_named(self.report.kind)

    @property
    def column(self) -> str:
        return OVERALL if OVERALL in self.report.splits else next(iter(self.report.splits), OVERALL)

    @property
    def metrics(self) -> dict[str, float | None]:
        return dict(self.report.splits.get(self.column, {}))

    @property
    def intervals(self) -> dict[str, list[float] | None]:
        return dict(self.report.intervals.get(self.column, {}))

    @property
    def n(self) -> int:
        return int(self.report.counts.get(self.column, 0))


async def run_ablation(out: Path, config: Any, *, conditions: Sequence[str] | None = None,
                       show_progress: bool = True,
                       on_start: Callable[[str, Path], None] | None = None) -> list[AblationRow]:  # fmt: skip
    """Run every condition of `config`'s benchmark under `out` (an `EvalConfig`; its
    profile_view is set per condition) and return the rows in condition order."""
    from pertool.runner.run import run_eval, select_samples

    samples = select_samples(config)  # --limit: the same seeded, stratified sample as `eval`
    kind = kind_of_samples(samples)
    known = kind.ablation_conditions
    chosen = tuple(conditions or known)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise PertoolError(f"unknown condition(s) {', '.join(unknown)} for this benchmark; "
                           f"known: {', '.join(known)}")  # fmt: skip
    rows = []
    for condition in chosen:
        run_config = config.model_copy(update={"profile_view": condition_view(kind, condition)})
        path = out / condition
        run_dir = _open_or_create(path, run_config, condition, _blanked(kind, samples, condition))
        if on_start is not None:
            on_start(condition, path)
        try:
            report = await run_eval(run_dir, run_config, show_progress=show_progress)
        except PertoolError:
            predictions = run_dir.path / "predictions.jsonl"
            if run_dir.created and predictions.exists() and predictions.stat().st_size == 0:
                run_dir.discard()  # nothing was run in this condition: leave nothing of it
            raise
        finally:
            run_dir.unlock()
        rows.append(AblationRow(condition, path, report, kind))
    return rows


def _open_or_create(path: Path, config: Any, condition: str, blanked: str | None) -> Any:
    """A fresh run directory, or the one a previous `pertool ablate` left (resumed), refusing a
    directory that holds a different run."""
    from pertool.runner.run import EvalConfig, with_legacy_defaults
    from pertool.runner.rundir import CONFIG, RunDir

    record = {"condition": condition, "blanked": blanked, "profile_view": config.profile_view}
    if (path / CONFIG).exists():
        run = RunDir.open(path)
        try:
            existing = EvalConfig.model_validate(with_legacy_defaults(run.config()))
        except ValueError as exc:
            raise PertoolError(f"{path} holds a run pertool cannot read ({exc}); "
                               "choose another --out") from None
        ignore = {"max_concurrency", "order", "pertool_version"}  # they change no result
        old, new = existing.model_dump(exclude=ignore), config.model_dump(exclude=ignore)
        differing = sorted(k for k in new if old.get(k) != new.get(k))
        marker = path / ABLATION_FILE
        previous = read_json(marker) if marker.exists() else None
        if previous is not None and not isinstance(previous, dict):
            raise DataError(str(marker), "expected a JSON object")
        if differing or (previous is not None and previous.get("condition") != condition):
            what = ", ".join(differing) or "the condition"
            raise PertoolError(f"{path} holds a different run ({what} differ); choose another --out")
        run.lock()
        return run
    run = RunDir.create(path, config.model_dump(mode="json"), lock=True)
    run.write_json(ABLATION_FILE, record)
    return run


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def ablation_rows(rows: Sequence[AblationRow]) -> tuple[BenchmarkKind, list[str]]:
    """(kind, metric columns) of the table."""
    from pertool.kinds import kind_named
    from pertool.report.compare import metric_columns

    kind = rows[0].kind if rows and rows[0].kind is not None else kind_named("ptbench")
    return kind, metric_columns(kind, [r.metrics for r in rows])


def chart_metrics(kind: BenchmarkKind, columns: Sequence[str], rows: Sequence[AblationRow] = ()) -> list[str]:
    """The bars per condition: the kind's headline metric, then the two that the conditions move
    most (the largest spread between conditions; ties in table order)."""
    spread = {}
    for m in columns:
        values = [v for r in rows if (v := r.metrics.get(m)) is not None]
        spread[m] = max(values) - min(values) if values else -1.0
    others = sorted((m for m in columns if m != kind.headline), key=lambda m: -spread[m])[:2]
    wanted = ([kind.headline] if kind.headline in columns else []) + others
    return [m for m in columns if m in wanted]


def _value(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def format_terminal(rows: Sequence[AblationRow], *, title: str = "") -> str:
    from pertool.report.compare import metric_titles, text_table

    kind, columns = ablation_rows(rows)
    titles = metric_titles(kind)
    table = [["condition", "n", *(titles.get(m, m) for m in columns)]]
    for row in rows:
        table.append([row.condition, str(row.n), *(_value(row.metrics.get(m)) for m in columns)])
        intervals = row.intervals
        if any(intervals.get(m) for m in columns):
            table.append(["  95% CI", "", *(_ci(intervals.get(m), 2, "-") for m in columns)])
    return "\n".join(([title] if title else []) + text_table(table, left=1))


def _ci(iv: Sequence[float] | None, digits: int, sep: str) -> str:
    return "" if not iv else f"{iv[0]:.{digits}f}{sep}{iv[1]:.{digits}f}"


def format_markdown(rows: Sequence[AblationRow], *, title: str = "") -> str:
    from pertool.report.compare import metric_titles

    kind, columns = ablation_rows(rows)
    titles = metric_titles(kind)
    header = ["Condition", "n", *(titles.get(m, m) for m in columns)]
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |",
              "|:---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [row.condition, str(row.n)]
        for m in columns:
            iv = row.intervals.get(m)
            cells.append(_value(row.metrics.get(m), 3) + (f" ({_ci(iv, 3, '–')})" if iv else ""))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "95% bootstrap intervals in parentheses. Run directories: "
              + ", ".join(f"`{r.condition}/`" for r in rows) + "."]  # fmt: skip
    return "\n".join(lines) + "\n"


def format_csv(rows: Sequence[AblationRow]) -> str:
    """Text cells escaped against formula injection, numbers kept (report/csv_cells.py)."""
    _, columns = ablation_rows(rows)
    metric_cells = [c for m in columns for c in (m, f"{m}_low", f"{m}_high")]
    out: list[list[Any]] = [["condition", "run_dir", "n", *metric_cells]]
    for row in rows:
        cells: list[Any] = [row.condition, row.path.name, row.n]
        for m in columns:
            iv = row.intervals.get(m)
            cells += [row.metrics.get(m), iv[0] if iv else None, iv[1] if iv else None]
        out.append(cells)
    return csv_text(out)


_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759")


def format_svg(rows: Sequence[AblationRow], *, title: str = "") -> str:
    """A self-contained grouped bar chart (0 to 1) of the chart metrics per condition."""
    from pertool.report.compare import metric_titles

    kind, columns = ablation_rows(rows)
    metrics = chart_metrics(kind, columns, rows)
    titles = metric_titles(kind)
    titles = {**titles, "query_param": "Query param", "profile_param": "Profile param"}
    bar, gap, left, top, plot_h = 26.0, 34.0, 56, 64, 220
    heading_text = title or "Profile ablation"
    needed = max(left + 150 * len(metrics), left + 8.5 * len(heading_text))  # legend, heading
    group = max(bar * len(metrics) + gap, (needed - left) / max(len(rows), 1))
    width = int(left + group * len(rows) + 24)
    height = top + plot_h + 56
    esc = html.escape
    heading = esc(heading_text)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
        f"<title>{heading}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">{heading}</text>',
    ]
    for i, m in enumerate(metrics):  # legend
        lx = left + i * 150
        parts.append(f'<rect x="{lx}" y="32" width="12" height="12" fill="{_COLORS[i % len(_COLORS)]}"/>')
        parts.append(f'<text x="{lx + 17}" y="43">{esc(titles.get(m, m))}</text>')
    for k in range(6):  # axis and grid, 0.0 to 1.0
        y = top + plot_h - plot_h * k / 5
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 12}" y2="{y:.1f}" '
                     f'stroke="{"#333" if k == 0 else "#ddd"}" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{k / 5:.1f}</text>')
    for g, row in enumerate(rows):
        x0 = left + g * group + (group - bar * len(metrics)) / 2
        for i, m in enumerate(metrics):
            value = row.metrics.get(m)
            x = x0 + i * bar
            if value is None:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h - 4}" text-anchor="middle" '
                             f'font-size="9">n/a</text>')  # fmt: skip
                continue
            h = plot_h * max(0.0, min(1.0, value))
            parts.append(f'<rect class="bar" data-condition="{esc(row.condition)}" data-metric="{esc(m)}" '
                         f'x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 4}" height="{h:.1f}" '
                         f'fill="{_COLORS[i % len(_COLORS)]}"><title>{esc(row.condition)}, '
                         f'{esc(titles.get(m, m))}: {value:.4f}</title></rect>')  # fmt: skip
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
                         f'font-size="9">{value:.2f}</text>')  # fmt: skip
        parts.append(f'<text x="{x0 + bar * len(metrics) / 2:.1f}" y="{top + plot_h + 18}" '
                     f'text-anchor="middle">{esc(row.condition)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_outputs(out: Path, rows: Sequence[AblationRow], *, title: str = "") -> list[Path]:
    from pertool.fileio import atomic_write_text

    files = [(out / "ablation.md", format_markdown(rows, title=title)),
             (out / "ablation.csv", format_csv(rows)),
             (out / "ablation.svg", format_svg(rows, title=title))]
    for path, text in files:
        atomic_write_text(path, text)
    return [p for p, _ in files]
