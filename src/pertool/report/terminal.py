"""Plain-text tables of a `ScoreReport`: PTBench in the order of the paper's Table 2 and
Figure 4; ToolSpectrum as its level-wise F1 table, then parameters and refusals."""

from __future__ import annotations

from pertool.scoring.results import ERROR_KEYS, METRIC_KEYS, ScoreReport

__all__ = ["TOOLSPECTRUM_LEGEND", "format_report"]

METRIC_TITLES = dict(zip(METRIC_KEYS, (
    "Format", "Platform", "Query", "Profile", "T-name", "T-param", "T-value", "Overall")))  # fmt: skip
ERROR_TITLES = dict(zip((*ERROR_KEYS, "format"), (
    "T-wrong", "T-missing", "T-excess", "P-missing", "P-excess", "P-error", "Platform", "Format",
)))  # fmt: skip
TOOLSPECTRUM_TABLES = (
    {"format": "Format", "format_strict": "Strict", "app_f1": "APP", "api_f1": "API", "rp_f1": "RP",
     "pp_f1": "PP", "op_f1": "OP", "accuracy": "Accuracy"},
    {"rp_param_f1": "RP-param", "pp_param_f1": "PP-param", "op_param_f1": "OP-param",
     "refusal_precision": "Refuse-P", "refusal_recall": "Refuse-R", "refusal_f1": "Refuse-F1"},
)  # fmt: skip
COUNT_TITLES = {"format": "Unparsed", "repaired": "Repaired", "wrong_refusal": "Refused!",
                "missed_refusal": "NotRefused"}  # refused a valid request / failed to refuse
# What each ToolSpectrum column means (printed under the tables; the HTML report shows the same).
TOOLSPECTRUM_LEGEND = (
    ("Format, Strict", "the answer parses; Strict: with no repair (one JSON object or a bare null)"),
    ("APP, API, RP", "cascaded F1: the right app; also the right API; also every required parameter"),
    ("PP / OP", "also every personalized (PP, persona subset) / environmental (OP, other subsets) "
     "parameter"),
    ("Accuracy", "a refusal where the gold refuses, else a call correct at the last level"),
    ("RP/PP/OP-param", "micro-F1 of required / personalized / environmental parameters, not cascaded"),
    ("Refuse-P/R/F1", "precision, recall and F1 of refusing (refusal as the positive class)"),
    ("Unparsed, Repaired", "answers that did not parse; answers that parsed only after a repair"),
    ("Refused!, NotRefused", "refused a valid request; did not refuse where the gold refuses"),
)  # fmt: skip
_WIDTH = 11
_NA = ("n/a: undefined on that split (no such parameters, no gold or predicted refusals, or the "
       "level belongs to another subset)")  # fmt: skip


def _row(cells: list[str], first: int) -> str:
    return cells[0].ljust(first) + "".join(c.rjust(_WIDTH) for c in cells[1:])


def _value(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _interval(iv: list[float] | None) -> str:
    return "" if iv is None else f"{iv[0]:.2f}-{iv[1]:.2f}"


def _metrics_table(report: ScoreReport, titles: dict[str, str], first: int) -> list[str]:
    lines = [_row(["split (n)", *titles.values()], first)]
    for split, metrics in report.splits.items():
        label = f"{split} ({report.counts[split]})"
        lines.append(_row([label, *(_value(metrics.get(k)) for k in titles)], first))
        intervals = report.intervals.get(split)
        if intervals:
            lines.append(_row(["  95% CI", *(_interval(intervals.get(k)) for k in titles)], first))
    return lines


def _legend() -> list[str]:
    width = max(len(name) for name, _ in TOOLSPECTRUM_LEGEND) + 2
    return ["", "columns:", *(f"  {name:<{width}}{meaning}" for name, meaning in TOOLSPECTRUM_LEGEND)]


def format_report(report: ScoreReport, *, title: str = "") -> str:
    first = max([16, *(len(s) + 8 for s in report.splits)])
    lines = [title] if title else []
    if report.no_answer:  # server or transport failures: not in any number below
        lines.append(report.answered_line())
    toolspectrum = not any("platform" in m for m in report.splits.values())
    if toolspectrum:
        for titles in TOOLSPECTRUM_TABLES:
            lines += [*_metrics_table(report, titles, first), ""]
        keys = list(next(iter(report.errors.values()), {}))
        lines.append(_row(["counts", *(COUNT_TITLES.get(k, k) for k in keys)], first))
        lines += [_row([s, *(str(c[k]) for k in keys)], first) for s, c in report.errors.items()]
        lines += ["", "Levels cascade (APP > API > RP > PP/OP); parse failures are wrong answers, not "
                  "refusals.", _NA, *_legend()]  # fmt: skip
        return "\n".join(lines)
    lines += [*_metrics_table(report, METRIC_TITLES, first), ""]
    lines.append(_row(["errors", *ERROR_TITLES.values()], first))
    for split, counts in report.errors.items():
        lines.append(_row([split, *(str(counts[k]) for k in ERROR_TITLES)], first))
    return "\n".join(lines)
