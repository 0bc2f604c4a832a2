"""`pertool report`: one self-contained HTML file from run directories.

The page holds each run's metric tables as its benchmark kind lays them out (`metric_tables`,
its `legend` under them) with 95% intervals, an error-analysis chart per run (inline SVG made
here, titled by the kind's `category_titles`), the kind's breakdowns, a comparison table when
there are several runs, and a sample browser that shows the parse the scorer used. Nothing here
knows a benchmark by name: everything that differs comes from the run's kind.

Safety: every piece of model or dataset text in the markup goes through `html.escape`; the
browser's data is JSON inside `<script type="application/json">` with `<`, `>` and `&` written as
\\u003c \\u003e \\u0026, so no model output can close that element; the script builds the sample
views with `textContent` only (never `innerHTML`). Nothing is fetched: no URL appears in the
page's own markup, styles or script.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from pertool.fileio import atomic_write_bytes
from pertool.report.charts import donut, grouped_bars, stacked_bars
from pertool.report.rundata import Breakdown, RunData, SampleView, load_run, main_category_counts
from pertool.scoring.results import OVERALL, ScoreReport
from pertool.versions import __version__

__all__ = ["build_report", "json_for_script", "render_report", "write_report"]

def write_report(run_dirs: Sequence[Path], out: Path, *, data_dir: str | None = None) -> int:
    """Build the report of `run_dirs` into `out`; returns its size in bytes."""
    data = build_report(run_dirs, data_dir=data_dir).encode("utf-8", "replace")  # a lone surrogate: "?"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return len(data)


def build_report(run_dirs: Sequence[Path], *, data_dir: str | None = None) -> str:
    return render_report([load_run(Path(p), data_dir=data_dir) for p in run_dirs])


def json_for_script(data: Any) -> str:
    """JSON that is safe inside a `<script>` element: `<`, `>` and `&` are escaped as JSON
    unicode escapes, so `</script>` or `<!--` in the data cannot end or change the element. A lone
    surrogate (a model output can hold one) is written as its escape too, so the file stays UTF-8."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))  # fmt: skip
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def render_report(runs: Sequence[RunData]) -> str:
    labels = _labels(runs)
    strings = _StringTable()
    payload: dict[str, Any] = {"runs": [_run_payload(r, label, strings) for r, label in zip(runs, labels)]}
    payload["strings"] = strings.items
    title = "pertool report: " + ", ".join(labels)
    nav = "".join(f'<a href="#run-{i}">{escape(label)}</a>' for i, label in enumerate(labels))
    comparison_link = '<a href="#comparison">comparison</a>' if len(runs) > 1 else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f'<header><h1>pertool report</h1><p class="meta">{len(runs)} run{"s" if len(runs) != 1 else ""}'
        f" · pertool {escape(__version__)} · rebuilt from the run directories (what the scorer "
        f"decided, scores.jsonl)</p><nav>{comparison_link}{nav}</nav></header><main>",
    ]
    if len(runs) > 1:
        parts.append(_comparison(runs, labels))
    for i, (run, label) in enumerate(zip(runs, labels)):
        parts.append(_run_section(i, run, label))
    parts += [
        "</main>",
        f'<script type="application/json" id="pertool-data">{json_for_script(payload)}</script>',
        f"<script>{_JS}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


# --- pieces of markup ---------------------------------------------------------------------------


def _labels(runs: Sequence[RunData]) -> list[str]:
    labels = [run.label for run in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{run.label} ({run.path.name})" for run in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


def _value(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _cell(value: Any, interval: Any, *, best: bool = False) -> str:
    ci = f'<span class="ci">{interval[0]:.3f}–{interval[1]:.3f}</span>' if interval else ""
    cls = ' class="best"' if best else ""
    na = ' title="undefined on this split"' if value is None else ""
    return f"<td{cls}{na}><span class=\"v\">{_value(value)}</span>{ci}</td>"


def defined_tables(tables: Sequence[Any], rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """A kind's metric tables without the columns undefined in every row (a level that belongs
    to another subset, a parameter class no sample has); a table left empty is dropped."""
    present = {k for m in rows for k, v in m.items() if v is not None}
    kept = [{k: t for k, t in table.items() if k in present} for table in tables]
    return [t for t in kept if t]


def _columns(run: RunData) -> list[dict[str, str]]:
    """The metric tables of a run, as its kind lays them out."""
    return defined_tables(run.kind.metric_tables, list(run.report.splits.values())) or [{}]


def _metrics_table(rows: dict[str, dict[str, Any]], intervals: dict[str, Any], counts: dict[str, int],
                   titles: dict[str, str], first: str) -> str:  # fmt: skip
    head = "".join(f"<th>{escape(t)}</th>" for t in titles.values())
    body = []
    for name, metrics in rows.items():
        cls = ' class="overall"' if name == OVERALL else ""
        cells = "".join(_cell(metrics.get(k), intervals.get(name, {}).get(k)) for k in titles)
        n = f'<span class="n">({counts.get(name, 0)})</span>'
        body.append(f"<tr{cls}><th>{escape(name)} {n}</th>{cells}</tr>")
    return (f'<table class="metrics"><thead><tr><th>{escape(first)} (n)</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def _count_table(counts: dict[str, dict[str, int]], titles: dict[str, str], first: str) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t in titles.values())
    body = "".join(f"<tr><th>{escape(name)}</th>" + "".join(f"<td>{row.get(k, 0)}</td>" for k in titles)
                   + "</tr>" for name, row in counts.items())  # fmt: skip
    return (f'<table class="counts"><thead><tr><th>{escape(first)}</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _main_split(run: RunData) -> str:
    return OVERALL if OVERALL in run.report.splits else next(iter(run.report.splits), OVERALL)


def _no_answer_note(report: ScoreReport) -> str:
    """' (2 no answer, 3 context overflow)': the samples in no metric, overflows apart."""
    overflow = len(report.context_overflow)
    failed = len(report.no_answer) - overflow
    parts = [f"{failed} no answer"] if failed else []
    parts += [f"{overflow} context overflow"] if overflow else []
    return f" ({', '.join(parts)})" if parts else ""


def _run_section(index: int, run: RunData, label: str) -> str:
    report = run.report
    cfg = run.config
    meta = [f"benchmark <strong>{escape(run.benchmark)}</strong>",
            f"model <strong>{escape(run.model)}</strong>", f"{len(run.samples)} samples"
            + _no_answer_note(report),
            f"scoring: {escape(report.mode)}",
            f"run directory <code>{escape(str(run.path))}</code>"]  # fmt: skip
    if cfg.get("profile_view") not in (None, "all"):
        meta.append(f"profile view {escape(str(cfg['profile_view']))}")
    if cfg.get("tool_mode") == "native":
        meta.append("native tool calls")
    if run.usage:
        usage = run.usage
        cost = f", ${usage['cost_usd']:.4f}" if isinstance(usage.get("cost_usd"), (int, float)) else ""
        tokens_in, tokens_out = (escape(str(usage.get(k, 0))) for k in ("input_tokens", "output_tokens"))
        meta.append(f"tokens {tokens_in} in / {tokens_out} out{cost}")
    out = [f'<section class="run" id="run-{index}"><h2>{escape(label)}</h2>',
           f'<p class="meta">{" · ".join(meta)}</p>']  # fmt: skip
    out += [f'<p class="note">{escape(note)}</p>' for note in run.notes]
    out.append("<h3>Metrics with 95% bootstrap intervals</h3>")
    for titles in _columns(run):
        out.append(_metrics_table(report.splits, report.intervals, report.counts, titles, "split"))
    if run.kind.legend:
        out.append('<p class="hint">n/a: undefined on that split.</p>')
        out.append(_legend(run.kind.legend))
    chart_titles = _columns(run)[0]
    series = [(split, [report.splits[split].get(k) for k in chart_titles],
               [report.intervals.get(split, {}).get(k) for k in chart_titles]) for split in report.splits]
    chart = grouped_bars(list(chart_titles.values()), series, title="Metrics by split")
    out.append(f'<div class="charts">{chart}</div>')
    out.append(_error_section(run))
    out += [_group_section(run, b) for b in run.breakdowns]
    out.append(f'<h3>Samples</h3><div class="browser" id="browser-{index}" data-run="{index}">'
               '<p class="hint">The sample browser needs JavaScript.</p></div></section>')  # fmt: skip
    return "\n".join(out)


def _legend(legend: Sequence[tuple[str, str]]) -> str:
    """The kind's columns explained, as under the terminal table."""
    items = "".join(f"<dt>{escape(name)}</dt><dd>{escape(meaning)}</dd>" for name, meaning in legend)
    return f'<dl class="legend">{items}</dl>'


def _error_section(run: RunData) -> str:
    counts = run.category_counts
    main = counts.get(OVERALL) or next(iter(counts.values()), {})
    pie_keys = list(run.categories)
    intro = "The error categories the scorer gave each sample (scores.jsonl), per split."
    pie = donut([(run.categories[k], main.get(k, 0)) for k in pie_keys], title="Error categories",
                empty="no errors")  # fmt: skip
    splits = [s for s in counts if s != OVERALL]
    bars = stacked_bars([run.categories[k] for k in run.categories],
                        [(s, [counts[s].get(k, 0) for k in run.categories]) for s in splits],
                        title="Errors by split")  # fmt: skip
    return ("<h3>Error analysis</h3>" + f'<p class="hint">{escape(intro)}</p>'
            + f'<div class="charts">{pie}{bars}</div>' + _count_table(counts, run.categories, "split"))


def _group_section(run: RunData, groups: Breakdown) -> str:
    if not groups.metrics:
        return ""
    out = [f"<h3>By {escape(groups.name)}</h3>"]
    for titles in defined_tables(run.kind.metric_tables[:1], list(groups.metrics.values())):
        out.append(_metrics_table(groups.metrics, groups.intervals, groups.counts, titles, groups.name))
    if groups.errors:
        out.append(_count_table(groups.errors, run.categories, groups.name))
    return "\n".join(out)


def _comparison(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    mixed = _mixed(runs)
    bold = "" if mixed else " the best value of each column is bold."
    out = ['<section id="comparison"><h2>Comparison</h2>',
           f'<p class="hint">Table 2 layout: one block per split, one row per run;{bold} Intervals are each '
           "run's own 95% bootstrap intervals; for a paired test of a difference use <code>pertool "
           "compare</code>.</p>"]  # fmt: skip
    out += [f'<p class="note">{escape(line)}</p>' for line in mixed]
    kinds = {run.kind.name: run.kind for run in runs}
    for name, kind in kinds.items():  # one block per benchmark kind, in the runs' order
        members = [(run, label) for run, label in zip(runs, labels) if run.kind.name == name]
        tables = defined_tables(kind.metric_tables, [m for r, _ in members for m in r.report.splits.values()])
        if not tables:
            continue
        splits = list(dict.fromkeys(s for run, _ in members for s in run.report.splits))
        for titles in tables:
            head = "".join(f"<th>{escape(t)}</th>" for t in titles.values())
            body = []
            for split in splits:
                having = [(r, lb) for r, lb in members if split in r.report.splits]
                best = {k: (min if k in kind.lower_better else max)(
                    (v for r, _ in having if (v := r.report.splits[split].get(k)) is not None), default=None)
                    for k in titles}  # fmt: skip
                span = len(titles) + 1
                body.append(f'<tr class="split-row"><th colspan="{span}">{escape(split)}</th></tr>')
                for run, label in having:
                    metrics = run.report.splits[split]
                    intervals = run.report.intervals.get(split, {})
                    cells = "".join(_cell(metrics.get(k), intervals.get(k), best=len(having) > 1 and not mixed
                                          and metrics.get(k) is not None and metrics.get(k) == best[k])
                                    for k in titles)  # fmt: skip
                    n = f'<span class="n">({run.report.counts.get(split, 0)})</span>'
                    body.append(f"<tr><th>{escape(label)} {n}</th>{cells}</tr>")
            out.append(f'<table class="metrics comparison"><thead><tr><th>run (n)</th>{head}</tr></thead>'
                       f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip
        titles = tables[0]
        series = []
        for run, label in members:
            split = _main_split(run)
            series.append((label, [run.report.splits[split].get(k) for k in titles],
                           [run.report.intervals.get(split, {}).get(k) for k in titles]))
        cats = members[0][0].categories
        errors = {label: main_category_counts(run) for run, label in members}
        metric_chart = grouped_bars(list(titles.values()), series, title="Metrics by run")
        error_chart = stacked_bars(list(cats.values()),
                                   [(label, [errors[label].get(k, 0) for k in cats]) for _, label in members],
                                   title="Errors by run", stacked=False)  # fmt: skip
        out.append(f'<div class="charts">{metric_chart}{error_chart}</div>')
        out.append(_count_table(errors, cats, "run"))
    out.append("</section>")
    return "\n".join(out)


def _mixed(runs: Sequence[RunData]) -> list[str]:
    """Notes for runs that `pertool compare` would refuse to compare: different benchmarks (specs,
    splits) or scoring modes (--compat). Their numbers are side by side but not comparable, so
    nothing is bolded as best."""
    notes = []
    for what, value in (("benchmarks", lambda r: r.benchmark),
                        ("scoring modes (--compat)", lambda r: r.config.get("compat") or "default")):
        values = list(dict.fromkeys(str(value(r)) for r in runs))
        if len(values) > 1:
            notes.append(f"These runs are of different {what} ({', '.join(values)}): their numbers are not "
                         "comparable, and no value is marked best.")
    return notes


# --- the browser's data -------------------------------------------------------------------------


_SHORT_LINE = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_SHOWN = 20_000  # characters of one model output kept in the page


def _shown(text: str) -> str:
    if len(text) <= MAX_SHOWN:
        return text
    return text[:MAX_SHOWN] + f"\n\u2026 ({len(text) - MAX_SHOWN:,} more characters not shown)"


class _StringTable:
    """Prompt lines, each stored once for the whole page: a PTBench prompt is mostly the user's
    profile and the scenario's tools, a ToolSpectrum prompt mostly its toolset, which many samples
    share. A text is a list of line numbers where a negative -k stands for the k lines that follow
    the previous one: a shared block was numbered in order the first time it was seen, so it comes
    back as one run. A short line is keyed with the two lines before it, so that a line repeated
    inside a block (`},` in a JSON toolset) does not break the block's run; a long line (a PTBench
    profile or tool list) is stored once whatever comes before it."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[tuple[str, str | None, str | None], int] = {}

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        last = -2
        before: tuple[str | None, str | None] = (None, None)
        for line in text.split("\n"):
            key = (line, *before) if len(line) <= _SHORT_LINE else (line, None, None)
            before = (line, before[0])
            i = self._index.get(key)
            if i is None:
                i = self._index[key] = len(self.items)
                self.items.append(line)
            if out and i == last + 1:
                if out[-1] < 0:
                    out[-1] -= 1
                else:
                    out.append(-1)
            else:
                out.append(i)
            last = i
        return out

    def decode(self, ref: list[int]) -> str:
        """What the page's script does (for tests)."""
        lines: list[str] = []
        last = -1
        for x in ref:
            if x < 0:
                lines += self.items[last + 1 : last + 1 - x]
                last -= x
            else:
                lines.append(self.items[x])
                last = x
        return "\n".join(lines)


def _run_payload(run: RunData, label: str, strings: _StringTable) -> dict[str, Any]:
    checks = list(dict.fromkeys(k for s in run.samples for k in s.checks))
    return {
        "label": label,
        "group": run.groups.name,
        "cats": [[k, t] for k, t in run.categories.items()],
        # a check's third field: 1 where True is the fault (a metric where lower is better)
        "checks": [[k, run.kind.metric_titles.get(k, k), int(k in run.kind.lower_better)] for k in checks],
        "pt": run.kind.platform_title,
        "splits": [s for s in run.report.splits if s != OVERALL],
        "samples": [_sample_payload(s, checks, strings) for s in run.samples],
    }


def _sample_payload(s: SampleView, checks: list[str], strings: _StringTable) -> dict[str, Any]:
    out: dict[str, Any] = {"i": s.id, "s": s.split, "g": s.group, "c": list(s.categories),
                           "k": int(s.correct), "o": _shown(s.output), "y": s.gold,
                           "p": [[role, strings.encode(content)] for role, content in s.prompt],
                           "h": "".join("1" if s.checks.get(k) else ("0" if k in s.checks else "-")
                                        for k in checks)}  # fmt: skip
    if s.parsed is not None:
        out["x"] = _shown(s.parsed)
    if s.parse_error:
        out["e"] = s.parse_error
    if s.diff is not None:
        out["d"] = s.diff
    if s.tags:
        out["t"] = list(s.tags)
    if s.tool_calls:
        out["tc"] = s.tool_calls
    return out


_CSS = """
:root { --ok: #1a7f37; --bad: #c62828; --miss: #b45309; --extra: #7b3fa0; --line: #d8dde3; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 20px; }
header .meta { color: #c9d1d9; margin: 2px 0 6px; }
nav a { color: #9ecbff; margin-right: 14px; }
main { padding: 8px 24px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 18px 18px;
  margin: 16px 0; }
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta, .hint { color: #57606a; font-size: 13px; }
dl.legend { display: grid; grid-template-columns: max-content auto; gap: 1px 12px; margin: 4px 0 10px;
  font-size: 13px; color: #57606a; }
dl.legend dt { font-weight: 600; } dl.legend dd { margin: 0; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: 4px 8px; border-radius: 4px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; vertical-align: top; }
thead th { background: #eef1f4; text-align: center; }
tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
td .v { display: block; }
td .ci { display: block; color: #6e7781; font-size: 11px; }
td.best .v { font-weight: 700; }
tr.overall th, tr.overall td { background: #f3f6f9; }
tr.split-row th { background: #e8edf2; text-align: left; }
.n { color: #6e7781; font-weight: 400; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin: 8px 0; }
svg.chart { background: #fff; overflow: visible; }
code { font-size: 12px; }
.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0; }
.filters label { font-size: 13px; color: #57606a; }
.filters select, .filters input { font: inherit; padding: 2px 4px; }
table.samples { width: 100%; table-layout: fixed; }
table.samples > * > tr > td, table.samples > * > tr > th { text-align: left; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
table.samples > tbody > tr { cursor: pointer; }
table.samples > tbody > tr:hover { background: #f0f6ff; }
table.samples > tbody > tr.open { background: #ddf4ff; }
table.samples > tbody > tr.detail-row { cursor: default; background: none; }
table.samples > tbody > tr > td.detail-cell { white-space: normal; overflow: visible; padding: 0 6px 8px; }
.badge { display: inline-block; padding: 0 6px; margin-right: 3px; border-radius: 9px; font-size: 12px;
  background: #ffebe9; color: var(--bad); border: 1px solid #ffcecb; }
.badge.good { background: #dafbe1; color: var(--ok); border-color: #aceebb; }
.badge.tag { background: #eef1f4; color: #57606a; border-color: var(--line); }
.detail { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; margin-top: 6px;
  background: #fbfcfd; }
.detail h4 { margin: 4px 0 8px; }
.detail pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid var(--line);
  padding: 6px 8px; margin: 2px 0 8px; max-height: 360px; overflow: auto; font-size: 12px; }
.detail .role { font-weight: 600; font-size: 12px; color: #57606a; }
.detail .label { font-weight: 600; margin-top: 6px; }
.checks span { margin-right: 10px; font-size: 13px; }
.checks .yes { color: var(--ok); } .checks .no { color: var(--bad); }
table.diff td, table.diff th { text-align: left; font-family: ui-monospace, monospace; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; }
.st-ok { background: #e6f6ea; }
.st-wrong, .st-differs { background: #ffe4e1; }
.st-missing { background: #fff1d6; }
.st-extra { background: #f1e6f8; }
.st-diff { background: #fff8e1; }
.st-ignored { color: #777; }
.more { margin: 4px 0; }
"""

_JS = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("pertool-data").textContent);
  const STR = DATA.strings;
  const PAGE = 200;
  const STATUS = {ok: "\u2713 ok", wrong: "\u2717 wrong value", missing: "\u2212 missing",
    extra: "+ extra", diff: "\u2260 differs", differs: "\u2717 different", ignored: "\u00b7 ignored"};

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function lines(ref) {
    const out = [];
    let last = -1;
    ref.forEach((x) => {
      if (x < 0) {
        for (let k = 0; k < -x; k++) out.push(STR[++last]);
      } else {
        out.push(STR[x]);
        last = x;
      }
    });
    return out.join("\n");
  }
  function option(select, value, label) {
    const o = el("option", null, label);
    o.value = value;
    select.append(o);
  }

  function Browser(root, index) {
    const run = DATA.runs[index];
    const titles = {};
    run.cats.forEach((c) => { titles[c[0]] = c[1]; });
    const byId = new Map(run.samples.map((s) => [s.i, s]));
    const state = {cat: "", split: "", group: "", q: "", open: "", shown: PAGE};

    root.textContent = "";
    const bar = el("div", "filters");
    function control(name, label, node) {
      const l = el("label", null, label + " ");
      node.dataset.filter = name;
      l.append(node);
      bar.append(l);
      return node;
    }
    const catSel = control("cat", "error category", el("select"));
    const counts = {};
    run.samples.forEach((s) => s.c.forEach((c) => { counts[c] = (counts[c] || 0) + 1; }));
    const nOk = run.samples.filter((s) => s.k).length;
    option(catSel, "", "all (" + run.samples.length + ")");
    option(catSel, "_ok", "correct (" + nOk + ")");
    option(catSel, "_err", "not correct (" + (run.samples.length - nOk) + ")");
    run.cats.forEach((c) => option(catSel, c[0], c[1] + " (" + (counts[c[0]] || 0) + ")"));
    const splitSel = control("split", "split", el("select"));
    option(splitSel, "", "all");
    run.splits.forEach((s) => option(splitSel, s, s));
    const groupSel = control("group", run.group, el("select"));
    option(groupSel, "", "all");
    Array.from(new Set(run.samples.map((s) => s.g))).sort().forEach((g) => option(groupSel, g, g));
    const search = control("q", "search", el("input"));
    search.type = "search";
    search.placeholder = "id, output or gold";
    const shownText = el("span", "meta");
    bar.append(shownText);
    root.append(bar);

    const table = el("table", "samples");
    const colgroup = el("colgroup");
    ["11%", "9%", "11%", "22%", "47%"].forEach((w) => {
      const c = el("col");
      c.style.width = w;
      colgroup.append(c);
    });
    table.append(colgroup);
    const head = el("tr");
    ["id", "split", run.group, "outcome", "output"].forEach((h) => head.append(el("th", null, h)));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    table.append(thead, tbody);
    root.append(table);
    const more = el("button", "more", "show more");
    more.type = "button";
    root.append(more);
    const detail = el("div", "detail");
    detail.hidden = true;
    root.append(detail);
    const detailRow = el("tr", "detail-row");
    const detailCell = el("td", "detail-cell");
    detailCell.colSpan = 5;
    detailRow.append(detailCell);
    function placeDetail() {
      // right under the open sample's row; at the end when that row is not shown
      const at = state.open ? tbody.querySelector('tr[data-id="' + CSS.escape(state.open) + '"]') : null;
      if (at) {
        detailCell.append(detail);
        at.after(detailRow);
      } else {
        detailRow.remove();
        root.append(detail);
      }
    }

    function matches(s) {
      if (state.cat === "_ok" && !s.k) return false;
      if (state.cat === "_err" && s.k) return false;
      if (state.cat && state.cat[0] !== "_" && s.c.indexOf(state.cat) < 0) return false;
      if (state.split && s.s !== state.split) return false;
      if (state.group && s.g !== state.group) return false;
      if (state.q) {
        const q = state.q.toLowerCase();
        if ((s.i + "\n" + s.o + "\n" + s.y).toLowerCase().indexOf(q) < 0) return false;
      }
      return true;
    }
    function outcome(s, tag) {
      const cell = el(tag || "td");
      if (s.k) cell.append(el("span", "badge good", "correct"));
      s.c.forEach((c) => cell.append(el("span", "badge", titles[c] || c)));
      (s.t || []).forEach((t) => cell.append(el("span", "badge tag", t)));
      return cell;
    }
    function renderRows() {
      const hits = run.samples.filter(matches);
      tbody.textContent = "";
      const frag = document.createDocumentFragment();
      hits.slice(0, state.shown).forEach((s) => {
        const tr = el("tr");
        tr.dataset.id = s.i;
        tr.dataset.cats = s.c.join(" ");
        tr.dataset.split = s.s;
        tr.dataset.group = s.g;
        if (s.i === state.open) tr.className = "open";
        tr.append(el("td", null, s.i), el("td", null, s.s), el("td", null, s.g), outcome(s));
        const out = el("td", null, s.o.length > 160 ? s.o.slice(0, 160) + "\u2026" : s.o);
        out.title = s.o.slice(0, 2000);
        tr.append(out);
        frag.append(tr);
      });
      tbody.append(frag);
      const shown = Math.min(hits.length, state.shown);
      shownText.textContent = "showing " + shown + " of " + hits.length + " matching (" +
        run.samples.length + " samples)";
      root.dataset.matching = String(hits.length);
      more.hidden = hits.length <= state.shown;
      placeDetail();
    }
    function section(label, node) {
      detail.append(el("div", "label", label), node);
    }
    function diffTable(d) {
      const t = el("table", "diff");
      const h = el("tr");
      ["", "name", "predicted", "gold (accepted)", "source", "status"].forEach(
        (x) => h.append(el("th", null, x)));
      t.append(h);
      function row(kind, name, pred, gold, source, status) {
        const tr = el("tr", "st-" + status);
        [kind, name, pred, gold, source, STATUS[status] || status].forEach(
          (x) => tr.append(el("td", null, x)));
        t.append(tr);
      }
      const p = d.platform;
      if (run.pt) {
        row(run.pt, "", p[0] === null ? "(none)" : p[0],
          p[1] === null ? "(refusal)" : p[1], "", p[2] ? "ok" : "differs");
      }
      if (d.refusal) {
        row("refusal", "", d.refusal[0] ? "refused" : "answered", d.refusal[1] ? "refuse" : "answer", "",
          d.refusal[0] === d.refusal[1] ? "ok" : "differs");
      }
      (d.calls || []).forEach((c) => {
        const label = {ok: "ok", diff: "diff", missing: "missing", extra: "extra",
          ignored: "ignored"}[c.status];
        row("call", c.name + "()", c.status === "missing" ? "" : (c.predicted || c.name),
          c.status === "extra" || c.status === "ignored" ? "" : c.name, "", label);
        c.params.forEach((q) => row("  param", q[0], q[2], q[3], q[4], q[1]));
      });
      return t;
    }
    function renderDetail() {
      detail.textContent = "";
      const s = byId.get(state.open);
      placeDetail();
      if (!s) { detail.hidden = true; return; }
      detail.hidden = false;
      detail.append(el("h4", null, s.i + " \u00b7 " + s.s + " \u00b7 " + run.group + " " + s.g));
      detail.append(outcome(s, "div"));
      const checks = el("div", "checks");
      run.checks.forEach((c, j) => {
        const v = s.h[j];
        if (v === "-") return;
        const good = (v === "1") !== (c[2] === 1);
        checks.append(el("span", good ? "yes" : "no", (good ? "\u2713 " : "\u2717 ") + c[1]));
      });
      detail.append(checks);
      const prompt = el("details");
      prompt.append(el("summary", null, "prompt (" + s.p.length + " messages)"));
      prompt.addEventListener("toggle", () => {
        if (!prompt.open || prompt.dataset.filled) return;
        prompt.dataset.filled = "1";
        s.p.forEach((m) => { prompt.append(el("div", "role", m[0]), el("pre", "msg", lines(m[1]))); });
      });
      detail.append(prompt);
      section("raw output", el("pre", "raw", s.o === "" ? "(empty)" : s.o));
      if (s.tc) section("tool calls", el("pre", null, JSON.stringify(s.tc, null, 1)));
      if (s.x !== undefined) section("parsed", el("pre", "parsed", s.x));
      if (s.e) section(s.x === undefined ? "did not parse" : "note", el("pre", "error", s.e));
      section("gold", el("pre", "gold", s.y));
      if (s.d) section("difference (parsed vs gold)", diffTable(s.d));
    }
    function writeHash() {
      const p = new URLSearchParams();
      p.set("run", String(index));
      ["cat", "split", "group", "q", "open"].forEach((k) => { if (state[k]) p.set(k, state[k]); });
      history.replaceState(null, "", "#" + p.toString());
    }
    function apply(params) {
      state.cat = params.get("cat") || "";
      state.split = params.get("split") || "";
      state.group = params.get("group") || "";
      state.q = params.get("q") || "";
      state.open = params.get("open") || "";
      state.shown = PAGE;
      catSel.value = state.cat; state.cat = catSel.value;
      splitSel.value = state.split; state.split = splitSel.value;
      groupSel.value = state.group; state.group = groupSel.value;
      search.value = state.q;
      renderRows();
      renderDetail();
    }
    function changed() {
      state.cat = catSel.value; state.split = splitSel.value; state.group = groupSel.value;
      state.q = search.value; state.shown = PAGE;
      renderRows();
      writeHash();
    }
    [catSel, splitSel, groupSel].forEach((node) => node.addEventListener("change", changed));
    search.addEventListener("input", changed);
    more.addEventListener("click", () => { state.shown += PAGE * 5; renderRows(); });
    tbody.addEventListener("click", (event) => {
      if (event.target.closest(".detail")) return;
      const tr = event.target.closest("tr[data-id]");
      if (!tr) return;
      state.open = state.open === tr.dataset.id ? "" : tr.dataset.id;  // a second click closes it
      tbody.querySelectorAll("tr.open").forEach((r) => r.classList.remove("open"));
      if (state.open) tr.classList.add("open");
      renderDetail();
      writeHash();
    });
    this.apply = apply;
    this.reveal = () => (tbody.querySelector("tr.open") || root).scrollIntoView();
    this.index = index;
    apply(new URLSearchParams());
  }

  const browsers = Array.from(document.querySelectorAll(".browser")).map(
    (root) => new Browser(root, Number(root.dataset.run)));
  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has("run")) return;
    const b = browsers[Number(params.get("run"))];
    if (!b) return;
    b.apply(params);
    b.reveal();
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.documentElement.dataset.ready = "1";
  window.pertoolReady = performance.now();
})();
"""
