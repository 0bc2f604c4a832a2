"""The viewer's own pages: the leaderboard (filled and kept current by its script from
/api/runs) and two runs' answers side by side. A run's report is `report.html`'s page as is.

Safety as in the report: every piece of run text in markup goes through `html.escape`, and the
leaderboard's script builds its rows with `textContent` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote, urlencode

from pertool.report.rundata import RunData, SampleView
from pertool.versions import __version__

__all__ = ["compare_page", "error_page", "index_page", "run_href", "samples_page"]

POLL_MS = 1000

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
h1 { font-size: 1.4em; margin: .8em 0 .2em; } h2 { font-size: 1.15em; margin: 1.2em 0 .4em; }
.meta, .hint { color: #666; } .problem { color: #a00; } .filters { margin: .6em 0; }
.filters label { margin-right: 1.2em; }
table { border-collapse: collapse; margin: .3em 0 1em; } th, td { padding: .25em .6em; text-align: left;
  border-bottom: 1px solid #ddd; vertical-align: top; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .ci { color: #777; font-size: .85em; }
.bar { display: inline-block; width: 6em; height: .6em; background: #eee; margin-right: .4em; }
.bar span { display: block; height: 100%; background: #4a8; }
.status-running { color: #06c; font-weight: 600; } .status-stopped { color: #a60; }
.ns { color: #777; } .sig { color: #a00; font-weight: 600; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { white-space: pre-wrap; word-break: break-word; background: #f7f7f7; padding: .5em; margin: .2em 0; }
.ok { color: #080; font-weight: 600; } .bad { color: #a00; font-weight: 600; }
"""

_INDEX_JS = r"""
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text); return e; };
  const num = (v) => (v === null || v === undefined) ? "n/a" : v.toFixed(4);
  const state = { runs: [], polls: 0 };
  function fill(select, values) {
    const keep = select.value;
    const have = Array.from(select.options).map((o) => o.value);
    const want = [""].concat(values);
    if (have.join("\n") !== want.join("\n")) {
      select.textContent = "";
      want.forEach((v) => { const o = el("option", "", v || "all"); o.value = v; select.appendChild(o); });
    }
    select.value = want.includes(keep) ? keep : "";
  }
  function runLink(name, text) {
    const a = el("a", "", text); a.href = "run/" + encodeURIComponent(name) + "/"; return a;
  }
  function render() {
    const runs = state.runs;
    fill($("f-benchmark"), Array.from(new Set(runs.map((r) => r.benchmark).filter(Boolean))).sort());
    fill($("f-model"), Array.from(new Set(runs.map((r) => r.model).filter(Boolean))).sort());
    const fb = $("f-benchmark").value, fm = $("f-model").value;
    const shown = runs.filter((r) => (!fb || r.benchmark === fb) && (!fm || r.model === fm));
    const groups = new Map();
    shown.forEach((r) => {
      const key = r.status === "problem" ? "" : r.benchmark + (r.compat ? " (" + r.compat + ")" : "");
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    });
    const board = $("board"); board.textContent = "";
    if (!runs.length) {
      board.appendChild(el("p", "hint", "No run directories here yet; this page updates itself."));
    }
    Array.from(groups.keys()).sort().forEach((key) => board.appendChild(table(key, groups.get(key))));
    $("count").textContent = shown.length + " of " + runs.length + " runs";
    document.documentElement.dataset.ready = "1";
  }
  function table(key, rows) {
    const wrap = el("section", "group"); wrap.dataset.benchmark = key;
    wrap.appendChild(el("h2", "", key || "Run directories with a problem"));
    rows.sort((a, b) => (a.rank === null) - (b.rank === null) || (a.rank || 0) - (b.rank || 0)
                         || a.name.localeCompare(b.name));
    const cols = [];
    rows.forEach((r) => r.metrics.forEach((m) => { if (!cols.some((c) => c.key === m.key)) cols.push(m); }));
    const t = el("table", "runs"); const head = el("tr");
    ["", "#", "run", "model", "status", "progress"].concat(cols.map((c) => c.title), ["vs best (paired)", ""])
      .forEach((h) => head.appendChild(el("th", "", h)));
    t.appendChild(el("thead")).appendChild(head);
    const body = el("tbody"); t.appendChild(body);
    rows.forEach((r) => {
      const tr = el("tr", "run"); tr.dataset.name = r.name; tr.dataset.status = r.status;
      const pick = el("input"); pick.type = "checkbox"; pick.className = "pick"; pick.value = r.name;
      pick.checked = picked.has(r.name);
      pick.addEventListener("change", () => {
        if (pick.checked) picked.add(r.name); else picked.delete(r.name);
        pickedChanged();
      });
      tr.appendChild(el("td")).appendChild(pick);
      tr.appendChild(el("td", "num", r.rank === null ? "" : r.rank));
      tr.appendChild(el("td")).appendChild(
        r.status === "problem" ? el("span", "", r.name) : runLink(r.name, r.name));
      tr.appendChild(el("td", "", r.model + (r.profile_view !== "all" ? " [" + r.profile_view + "]" : "")));
      tr.appendChild(el("td", "status-" + r.status, r.status));
      const prog = el("td", "progress");
      if (r.total) {
        const bar = el("span", "bar"); const fillBar = el("span");
        fillBar.style.width = (100 * r.done / r.total).toFixed(1) + "%"; bar.appendChild(fillBar);
        prog.appendChild(bar); prog.appendChild(el("span", "count", r.done + " / " + r.total));
        if (r.failed) prog.appendChild(el("span", "problem", " (" + r.failed + " failed)"));
      }
      tr.appendChild(prog);
      cols.forEach((c) => {
        const m = r.metrics.find((x) => x.key === c.key);
        const td = el("td", "num metric"); td.dataset.key = c.key;
        if (m) {
          td.appendChild(el("span", "value", num(m.value)));
          if (m.interval) {
            td.appendChild(el("div", "ci", m.interval[0].toFixed(3) + "–" + m.interval[1].toFixed(3)));
          }
        }
        tr.appendChild(td);
      });
      const vs = el("td", "test");
      if (r.test) {
        const d = r.test.difference;
        vs.appendChild(el("span", "", (d === null ? "n/a" : (d >= 0 ? "+" : "") + d.toFixed(4)) + " "));
        if (r.test.p !== null) {
          const p = "(p " + r.test.p.toFixed(4) + ")";
          vs.appendChild(el("span", r.test.significant ? "sig" : "ns",
                            (r.test.significant ? "significant " : "n.s. ") + p));
        }
        vs.title = r.test.metric + " minus the best (" + r.test.best + ") on " + r.test.shared
          + " shared samples";
      } else if (r.rank === 1) vs.textContent = "best";
      else if (r.status === "running" || r.status === "stopped") {
        vs.textContent = "partial: " + r.done + " answered";
      }
      tr.appendChild(vs);
      tr.appendChild(el("td", "problem", [r.problem].concat(r.notes).filter(Boolean).join("; ")));
      body.appendChild(tr);
    });
    wrap.appendChild(t);
    return wrap;
  }
  const picked = new Set();
  function pickedChanged() {
    const names = Array.from(picked);
    const link = $("compare-link");
    if (names.length === 2) {
      link.href = "compare?a=" + encodeURIComponent(names[0]) + "&b=" + encodeURIComponent(names[1]);
      link.textContent = "compare " + names[0] + " and " + names[1] + " sample by sample";
    } else { link.removeAttribute("href"); link.textContent = "tick two runs to compare their answers"; }
  }
  async function poll() {
    try {
      const response = await fetch("api/runs", { cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        state.runs = data.runs;
        $("notes").textContent = data.notes.join("; ");
        $("updated").textContent = new Date().toLocaleTimeString();
        render();
      }
      document.documentElement.dataset.polls = String(++state.polls);
      $("offline").textContent = response.ok ? "" : "the server answered " + response.status;
    } catch (e) { $("offline").textContent = "the server does not answer (stopped?)"; }
    setTimeout(poll, POLL_MS);
  }
  $("f-benchmark").addEventListener("change", render);
  $("f-model").addEventListener("change", render);
  pickedChanged();
  poll();
})();
"""


def _page(title: str, body: str, script: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{body}"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n")  # fmt: skip


def run_href(name: str) -> str:
    return "/run/" + quote(name, safe="") + "/"


def index_page(root: str) -> str:
    body = (f"<h1>pertool view</h1><p class=\"meta\">{escape(root)} · pertool {escape(__version__)} · "
            '<span id="count"></span> · updated <span id="updated">never</span> '
            '<span id="offline" class="problem"></span></p>'
            '<p class="hint">Each benchmark\'s finished runs are ranked by its headline metric, with 95% '
            "bootstrap intervals; <em>vs best</em> is the paired bootstrap of <code>pertool compare</code> "
            "(the run minus the best, on the samples both answered). Runs still being written show their "
            "progress and the scores of the samples answered so far.</p>"
            '<div class="filters"><label>benchmark <select id="f-benchmark"></select></label>'
            '<label>model <select id="f-model"></select></label>'
            '<a id="compare-link"></a></div><p id="notes" class="hint"></p>'
            '<div id="board"></div>')  # fmt: skip
    return _page("pertool view", body, _INDEX_JS.replace("POLL_MS", str(POLL_MS)))


def error_page(status: int, message: str) -> str:
    return _page(f"pertool view: {status}", f'<h1>{status}</h1><p class="problem">{escape(message)}</p>'
                 '<p><a href="/">back to the runs</a></p>')  # fmt: skip


def _outcome(view: SampleView | None) -> str:
    if view is None:
        return '<span class="hint">not in this run</span>'
    if "no prediction" in view.tags or "no answer" in view.tags:
        return f'<span class="hint">{escape(", ".join(view.tags))}</span>'
    return '<span class="ok">correct</span>' if view.correct else '<span class="bad">wrong</span>'


def _compare_href(a: str, b: str, sample: str | None = None) -> str:
    query = {"a": a, "b": b} | ({"id": sample} if sample is not None else {})
    return "/compare?" + urlencode(query)


def samples_page(a: RunData, b: RunData, names: Sequence[str]) -> str:
    """The samples of run A also in run B, each with both outcomes and a link to the two answers."""
    theirs = {v.id: v for v in b.samples}
    shared = [v for v in a.samples if v.id in theirs]
    rows = []
    for view in shared:
        other = theirs[view.id]
        differ = (view.correct != other.correct)
        href = escape(_compare_href(names[0], names[1], view.id))
        rows.append(f'<tr class="sample{" differ" if differ else ""}" data-id="{escape(view.id)}">'
                    f'<td><a href="{href}">{escape(view.id)}</a></td><td>{escape(view.split)}</td>'
                    f"<td>{_outcome(view)}</td><td>{_outcome(other)}</td></tr>")  # fmt: skip
    body = (f"<p><a href=\"/\">runs</a></p><h1>{escape(names[0])} vs {escape(names[1])}</h1>"
            f'<p class="meta">{len(shared)} shared samples '
            f"({sum(v.correct != theirs[v.id].correct for v in shared)} where the outcomes differ) · "
            f"{escape(a.benchmark)} / {escape(b.benchmark)}</p>"
            f"<table><thead><tr><th>sample</th><th>split</th><th>{escape(names[0])}</th>"
            f"<th>{escape(names[1])}</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    if not shared:
        body += '<p class="hint">The two runs share no sample id.</p>'
    return _page(f"pertool view: {names[0]} vs {names[1]}", body)


def _side(name: str, view: SampleView | None) -> str:
    if view is None:
        return f'<div class="run"><h2>{escape(name)}</h2><p class="hint">no such sample in this run</p></div>'
    href = escape(run_href(name) + "#" + urlencode({"run": 0, "open": view.id}))
    parts = [f'<div class="run" data-run="{escape(name)}"><h2><a href="{href}">{escape(name)}</a></h2>'
             f"<p>{_outcome(view)}"]  # fmt: skip
    if view.categories:
        parts.append(f' <span class="hint">({escape(", ".join(view.categories))})</span>')
    parts.append("</p><h3>output</h3>" f'<pre class="output">{escape(view.output)}</pre>')
    parts.append(f'<h3>parsed</h3><pre class="parsed">{escape(view.parsed or "")}</pre>')
    if view.parse_error:
        parts.append(f'<p class="problem">{escape(view.parse_error)}</p>')
    parts.append("</div>")
    return "".join(parts)


def compare_page(a: RunData, b: RunData, names: Sequence[str], sample_id: str) -> str:
    """One sample: its prompt and gold once, then each run's answer, side by side."""
    mine = next((v for v in a.samples if v.id == sample_id), None)
    theirs = next((v for v in b.samples if v.id == sample_id), None)
    either = mine or theirs
    assert either is not None
    prompt = "".join(f"<h3>{escape(role)}</h3><pre>{escape(text)}</pre>" for role, text in either.prompt)
    listing = escape(_compare_href(names[0], names[1]))
    body = (f'<p><a href="/">runs</a> · <a href="{listing}">all shared samples</a></p>'
            f'<h1 id="sample">{escape(sample_id)}</h1><h2>gold</h2>'
            f'<pre class="gold">{escape(either.gold)}</pre>'
            f'<div class="side">{_side(names[0], mine)}{_side(names[1], theirs)}</div>'
            f"<details><summary>prompt</summary>{prompt}</details>")  # fmt: skip
    return _page(f"pertool view: {sample_id}", body)
