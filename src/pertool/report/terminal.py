"""Plain-text tables of a `ScoreReport`, in the order of the paper's Table 2 and Figure 4."""

from __future__ import annotations

from pertool.scoring.results import ERROR_KEYS, METRIC_KEYS, ScoreReport

__all__ = ["format_report"]

METRIC_TITLES = dict(zip(METRIC_KEYS, (
    "Format", "Platform", "Query", "Profile", "T-name", "T-param", "T-value", "Overall")))  # fmt: skip
ERROR_TITLES = dict(zip((*ERROR_KEYS, "format"), (
    "T-wrong", "T-missing", "T-excess", "P-missing", "P-excess", "P-error", "Platform", "Format",
)))  # fmt: skip
_WIDTH = 11


def _row(cells: list[str], first: int) -> str:
    return cells[0].ljust(first) + "".join(c.rjust(_WIDTH) for c in cells[1:])


def _value(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _interval(iv: list[float] | None) -> str:
    return "" if iv is None else f"{iv[0]:.2f}-{iv[1]:.2f}"


def format_report(report: ScoreReport, *, title: str = "") -> str:
    first = max(16, *(len(s) + 8 for s in report.splits))
    lines = [title] if title else []
    lines.append(_row(["split (n)", *METRIC_TITLES.values()], first))
    for split, metrics in report.splits.items():
        label = f"{split} ({report.counts[split]})"
        lines.append(_row([label, *(_value(metrics[k]) for k in METRIC_KEYS)], first))
        intervals = report.intervals.get(split)
        if intervals:
            lines.append(_row(["  95% CI", *(_interval(intervals[k]) for k in METRIC_KEYS)], first))
    lines.append("")
    lines.append(_row(["errors", *ERROR_TITLES.values()], first))
    for split, counts in report.errors.items():
        lines.append(_row([split, *(str(counts[k]) for k in ERROR_TITLES)], first))
    return "\n".join(lines)
