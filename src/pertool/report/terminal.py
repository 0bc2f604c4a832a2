"""Plain-text tables of a `ScoreReport`, laid out by its benchmark kind: its metric tables
(`metric_tables`) with 95% intervals, its error counts (`error_titles`), then its legend."""

from __future__ import annotations

from pertool.kinds import kind_named
from pertool.scoring.results import ScoreReport

__all__ = ["format_report"]

_WIDTH = 11
_NA = ("n/a: undefined on that split (no such parameters, no gold or predicted refusals, or the "
       "level belongs to another subset)")  # fmt: skip


def _widths(titles: list[str]) -> list[int]:
    """Each column's width: `_WIDTH`, or its title's length and a space where the title is longer
    (PEToolBench's "Hallucinated tool"), so that titles never run together."""
    return [max(_WIDTH, len(t) + 1) for t in titles]


def _row(cells: list[str], first: int, widths: list[int]) -> str:
    return cells[0].ljust(first) + "".join(c.rjust(w) for c, w in zip(cells[1:], widths))


def _value(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _interval(iv: list[float] | None) -> str:
    return "" if iv is None else f"{iv[0]:.2f}-{iv[1]:.2f}"


def _metrics_table(report: ScoreReport, titles: dict[str, str], first: int) -> list[str]:
    widths = _widths(list(titles.values()))
    lines = [_row(["split (n)", *titles.values()], first, widths)]
    for split, metrics in report.splits.items():
        label = f"{split} ({report.counts[split]})"
        lines.append(_row([label, *(_value(metrics.get(k)) for k in titles)], first, widths))
        intervals = report.intervals.get(split)
        if intervals:
            lines.append(_row(["  95% CI", *(_interval(intervals.get(k)) for k in titles)], first, widths))
    return lines


def _legend(legend: tuple[tuple[str, str], ...]) -> list[str]:
    width = max(len(name) for name, _ in legend) + 2
    return ["", "columns:", *(f"  {name:<{width}}{meaning}" for name, meaning in legend)]


def format_report(report: ScoreReport, *, title: str = "") -> str:
    kind = kind_named(report.kind)
    first = max([16, *(len(s) + 8 for s in report.splits)])
    lines = [title] if title else []
    if report.no_answer:  # server or transport failures: not in any number below
        lines.append(report.answered_line())
    for table in kind.metric_tables:
        lines += [*_metrics_table(report, dict(table), first), ""]
    keys = [k for k in kind.error_titles if any(k in e for e in report.errors.values())]
    widths = _widths([kind.error_titles[k] for k in keys])
    lines.append(_row(["errors", *(kind.error_titles[k] for k in keys)], first, widths))
    lines += [_row([s, *(str(c.get(k, 0)) for k in keys)], first, widths) for s, c in report.errors.items()]
    if any(v is None for m in report.splits.values() for v in m.values()) and kind.legend:
        lines += ["", _NA]
    if kind.legend:
        lines += _legend(kind.legend)
    return "\n".join(lines)
