"""`pertool report`: the HTML report, checked as text and in a real headless Chromium.

The browser is Debian's chromium, driven by Playwright's Python API (`pertool.testing.browser`:
`executable_path`, no browser download). `make test` installs chromium; where it or Playwright is
missing the browser tests skip with the reason, and with CI set they fail instead. The
ToolSpectrum run is on the directory the tests build, so nothing here needs public data.
Screenshots are kept in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.cli.main import main
from pertool.kinds import gold_text, load_benchmark
from pertool.report.html import build_report, json_for_script, render_report
from pertool.report.rundata import load_run
from pertool.runner.run import EvalConfig, finish, select_samples
from pertool.runner.rundir import RunDir
from pertool.testing.browser import ReportBrowser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# A model output that would run script if it were ever parsed as markup.
HOSTILE = ('</script><script>document.title="pwned";window.pwned=1</script>'
           '<img src=x onerror="document.body.appendChild(Object.assign(document.createElement(\'div\'),'
           '{id:\'pwned\'}))"><!-- & --> MegaMart:[placeOrder(productName=\'paper\')]')


# --- run directories to report on --------------------------------------------------------------


def write_run(path: Path, config: EvalConfig, outputs: dict[str, str]) -> Path:
    """A run directory as `pertool eval` leaves it (config, predictions, metrics.json)."""
    run = RunDir.create(path, config.model_dump(mode="json"))
    samples = select_samples(config)  # --limit: the run's seeded, stratified sample
    finished = {}
    with run.appender("predictions.jsonl") as out:
        for sample in samples:
            if sample.id in outputs:
                finished[sample.id] = {"id": sample.id, "output": outputs[sample.id]}
                out.write(json.dumps(finished[sample.id]) + "\n")
    finish(run, config, samples, finished)
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Path]:
    """A private cache for the built-in benchmark, for the whole module."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERTOOL_CACHE_DIR", str(root / "cache"))
        yield root


@pytest.fixture(scope="module")
def builtin_run(env: Path) -> Path:
    out = env / "builtin-run"
    assert main(["eval", "--model", "baseline/history", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def hostile_run(env: Path) -> Path:
    """A small PTBench-format dataset with markup in its text, and model outputs with script."""
    sneaky = [("MegaMart", "<i>Mega</i>Mart"), ("paper", "</script><b>paper</b>")]

    def tweak(r: dict) -> dict:
        text = json.dumps(r)
        for a, b in sneaky:
            text = text.replace(json.dumps(a)[1:-1], json.dumps(b)[1:-1])
        return json.loads(text)

    trained = [tweak(record(query="Order paper <script>document.title='pwned'</script>")) for _ in range(3)]
    untrained = [tweak(record()) for _ in range(2)]
    data = write_split_dir(env / "hostile-data", trained, untrained)
    config = EvalConfig(benchmark=f"ptbench:{data}", model="<b>evil</b>/model")
    samples = load_benchmark(config.benchmark)
    outputs = {s.id: gold_text(s) for s in samples}
    outputs["trained:0"] = HOSTILE
    outputs["trained:1"] = gold_text(samples[1]).replace("quantity=2", "quantity=3, note='</script>'")
    outputs["untrained:0"] += " \udc80" + "x" * 25_000  # a lone surrogate, and more than the page keeps
    del outputs["untrained:1"]
    return write_run(env / "hostile-run", config, outputs)


TOOLSPECTRUM_IDS: list[str] = []  # the toolspectrum run's samples, in order


@pytest.fixture(scope="module")
def toolspectrum_run(env: Path, toolspectrum_dir: Path) -> Path:
    config = EvalConfig(benchmark="toolspectrum:environment", model="handmade", data_dir=str(toolspectrum_dir),
                        limit=40)  # fmt: skip
    samples = select_samples(config)
    outputs = {s.id: gold_text(s) for s in samples}
    gold = {s.id: json.loads(outputs[s.id]) for s in samples}
    ids = [s.id for s in samples]  # --limit draws a seeded sample: name them by position
    TOOLSPECTRUM_IDS[:] = ids
    outputs[ids[1]] = json.dumps({**gold[ids[1]], "APP": "NoSuchApp"})
    outputs[ids[2]] = json.dumps({**gold[ids[2]], "API": "noSuchApi"})
    outputs[ids[3]] = '{"APP": null, "API": null, "params": null}'
    outputs[ids[4]] = "I cannot decide </script><script>window.pwned=1</script>"
    params = dict(gold[ids[5]]["params"])
    params[next(iter(params))] = "a wrong value"
    outputs[ids[5]] = json.dumps({**gold[ids[5]], "params": params})
    return write_run(env / "toolspectrum-run", config, outputs)


@pytest.fixture(scope="module")
def report_file(env: Path, builtin_run: Path, hostile_run: Path, toolspectrum_run: Path) -> Path:
    out = env / "report.html"
    assert main(["report", str(builtin_run), str(hostile_run), str(toolspectrum_run), "--out", str(out)]) == 0
    return out


def payload(text: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="pertool-data">(.*?)</script>', text, re.S)
    assert match
    return json.loads(match.group(1))


# --- fast tests (no browser) -------------------------------------------------------------------


def test_script_json_cannot_end_its_element():
    data = {"o": "</script><script>alert(1)</script><!-- & \u2028 \udc80", "k": ["<", ">", "&"]}
    text = json_for_script(data)
    assert not set("<>&") & set(text)
    assert json.loads(text) == data
    text.encode("utf-8")  # a lone surrogate is escaped, not written raw


def test_model_and_dataset_text_is_escaped(hostile_run: Path):
    html = build_report([hostile_run])
    assert html.count("<script") == 2  # the data element and the page's own script
    assert "</script><script>" not in html and "pwned'</script>" not in html
    assert "<i>Mega</i>" not in html and "<b>evil</b>" not in html
    assert "&lt;i&gt;Mega&lt;/i&gt;Mart" in html and "&lt;b&gt;evil&lt;/b&gt;/model" in html
    data = payload(html)
    samples = {s["i"]: s for s in data["runs"][0]["samples"]}
    assert samples["trained:0"]["o"] == HOSTILE and "platform" in samples["trained:0"]["c"]
    assert samples["untrained:1"]["t"] == ["no prediction"]
    shown = samples["untrained:0"]["o"]
    assert len(shown) < 20_100 and shown.endswith(" more characters not shown)") and "\udc80" in shown
    extra = [p for c in samples["trained:1"]["d"]["calls"] for p in c["params"] if p[1] == "extra"]
    wrong = [p for c in samples["trained:1"]["d"]["calls"] for p in c["params"] if p[1] == "wrong"]
    assert extra == [["note", "extra", "'</script>'", "", ""]] and [p[0] for p in wrong] == ["quantity"]
    assert samples["trained:1"]["c"] == ["param_excessive"]


def test_report_numbers_are_the_run_scores(builtin_run: Path):
    run = load_run(builtin_run)
    saved = json.loads((builtin_run / "metrics.json").read_text())
    assert run.report.splits == saved["splits"] and run.report.intervals == saved["intervals"]
    assert run.notes == [] and len(run.samples) == 1083
    assert {s.group for s in run.samples} <= {"travel", "takeout", "entertainment", "work", "shopping"}
    html = render_report([run])
    overall = saved["splits"]["overall"]
    assert f'<span class="v">{overall["tool_name"]:.4f}</span>' in html
    assert re.findall(r"https?://", html) == []  # nothing to fetch
    assert "<h3>By group</h3>" in html  # the kind's breakdown: the built-in benchmark's scenarios
    assert html.count('<svg class="chart"') == 3  # metrics by split, error pie, errors by split
    errors = saved["errors"]["overall"]
    assert sum(1 for s in run.samples if "tool_wrong" in s.categories) == errors["tool_wrong"]
    # every prompt is the one the model was sent, rebuilt line for line
    first = next(s for s in payload(html)["runs"][0]["samples"] if s["i"] == "trained:0")
    strings = payload(html)["strings"]
    assert "You are given a user profile" in strings[first["p"][0][1][0]]


def test_toolspectrum_report(toolspectrum_run: Path):
    run = load_run(toolspectrum_run)
    assert run.kind.name == "toolspectrum" and len(run.samples) == 40
    # --limit draws a seeded sample: "environment:k" here names the k-th sample of the run
    by_id = {f"environment:{k}": s for k, s in enumerate(run.samples)}
    assert by_id["environment:0"].correct and by_id["environment:0"].categories == ()
    assert by_id["environment:1"].categories == ("app",)
    assert by_id["environment:2"].categories == ("api",)
    assert by_id["environment:3"].categories == ("wrong_refusal",) and "refusal" in by_id["environment:3"].tags
    assert by_id["environment:4"].categories == ("format",) and by_id["environment:4"].parsed is None
    assert by_id["environment:5"].categories[0] in ("rp", "op")
    wrong = [p for c in by_id["environment:5"].diff["calls"] for p in c["params"] if p[1] == "wrong"]
    assert len(wrong) == 1 and wrong[0][2] == "'a wrong value'"
    # categories shown: those the kind counts in its report (even at 0) and those that occur
    level = "rp" if wrong[0][4] == "required" else "op"
    assert run.category_counts["environment"] == {"format": 1, "wrong_refusal": 1, "missed_refusal": 0,
                                                  "app": 1, "api": 1, level: 1}
    assert run.report.splits["environment"]["accuracy"] == pytest.approx(35 / 40)
    html = render_report([run])
    for title in ("APP", "API", "RP", "OP", "RP-param", "OP-param", "Refuse-P", "Refuse-F1",
                  "Accuracy", "By app", "Missed refusal", "APP wrong"):
        assert f">{title}<" in html, title
    # a column undefined on every split is left out: the persona level on the environment subset,
    # and refusal recall when no gold answer of the run refuses
    assert "<th>PP</th>" not in html
    assert ("<th>Refuse-R</th>" in html) == (run.report.splits["environment"]["refusal_recall"] is not None)
    assert "</script><script>" not in html and html.count("<script") == 2
    app = by_id["environment:0"].group
    assert run.groups.counts[app] == sum(1 for s in run.samples if s.group == app)


def test_cli_writes_next_to_a_single_run_and_says_where(builtin_run: Path, toolspectrum_run: Path, tmp_path,
                                                        monkeypatch, capsys):
    single = toolspectrum_run / "report.html"
    single.unlink(missing_ok=True)
    assert main(["report", str(toolspectrum_run)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [f"wrote {single} ({single.stat().st_size / 1e6:.1f} MB, 1 run)"]
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(toolspectrum_run), str(builtin_run)]) == 0
    assert (tmp_path / "report.html").is_file() and len(capsys.readouterr().out.splitlines()) == 1
    html = (tmp_path / "report.html").read_text()
    assert '<section id="comparison">' in html and html.count('<section class="run"') == 2


def test_cli_reports_a_directory_that_is_no_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


# --- in the browser ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_tables_and_charts_render(browser: ReportBrowser, report_file: Path):
    seconds = browser.open(report_file.as_uri())
    assert seconds < 10
    state = browser.evaluate("""({
        title: document.title,
        metricTables: document.querySelectorAll('table.metrics').length,
        comparison: !!document.querySelector('#comparison table.comparison'),
        charts: Array.from(document.querySelectorAll('svg.chart')).map((s) => {
            const box = s.getBoundingClientRect(); return [box.width, box.height,
            s.querySelectorAll('rect, circle, path').length]; }),
        rows: Array.from(document.querySelectorAll('.browser')).map(
            (b) => b.querySelectorAll('table.samples > tbody > tr[data-id]').length),
        errors: document.querySelectorAll('table.counts').length,
    })""")
    assert state["title"].startswith("pertool report: baseline/history")
    assert state["metricTables"] >= 3 + 2 + 2  # per run, by scenario/platform/app, comparison
    assert state["comparison"] and state["errors"] >= 3
    assert len(state["charts"]) >= 3 * 3 + 2
    assert all(w > 100 and h > 100 and shapes > 0 for w, h, shapes in state["charts"])
    assert state["rows"] == [200, 5, 40]  # a page of 200 rows, then every sample
    browser.screenshot(ARTIFACTS / "report-top.png")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sample_browser_filters(browser: ReportBrowser, report_file: Path, builtin_run: Path):
    run = load_run(builtin_run)
    expected = [s.id for s in run.samples if "tool_missing" in s.categories]
    in_split = [s.id for s in run.samples if "tool_missing" in s.categories and s.split == "untrained"]
    travel = [s.id for s in run.samples if "tool_missing" in s.categories and s.split == "untrained"
              and s.group == "travel"]
    assert 0 < len(travel) < len(in_split) < len(expected) < 200
    browser.open(report_file.as_uri())
    pick = """((name, value) => {
        const node = document.querySelector('#browser-0 [data-filter="' + name + '"]');
        node.value = value; node.dispatchEvent(new Event('change', {bubbles: true}));
        return Array.from(document.querySelectorAll('#browser-0 table.samples > tbody > tr[data-id]')).map((tr) =>
            [tr.dataset.id, tr.dataset.cats, tr.dataset.split, tr.dataset.group]); })"""
    rows = browser.evaluate(f"{pick}('cat', 'tool_missing')")
    assert [r[0] for r in rows] == expected and all("tool_missing" in r[1].split() for r in rows)
    rows = browser.evaluate(f"{pick}('split', 'untrained')")
    assert [r[0] for r in rows] == in_split
    rows = browser.evaluate(f"{pick}('group', 'travel')")
    assert [r[0] for r in rows] == travel
    assert browser.evaluate("location.hash") == "#run=0&cat=tool_missing&split=untrained&group=travel"
    rows = browser.evaluate(f"{pick}('cat', '_ok')")
    assert all(not r[1] for r in rows)
    # a link with the filters in its hash opens filtered, with one sample shown in full
    browser.open(report_file.as_uri() + f"#run=0&cat=tool_missing&open={expected[0]}")
    shown = browser.evaluate("""({ids: Array.from(document.querySelectorAll('#browser-0 tbody tr[data-id]'))
        .map((tr) => tr.dataset.id), detail: document.querySelector('#browser-0 .detail').innerText,
        under: document.querySelector('#browser-0 tr.open').nextElementSibling.querySelector('.detail') !== null,
        missing: document.querySelectorAll('#browser-0 .detail tr.st-missing').length})""")
    assert shown["ids"] == expected and "T-missing" in shown["detail"] and shown["missing"] >= 1
    assert shown["under"]  # the details open right under the sample's row
    assert "raw output" in shown["detail"] and "difference (parsed vs gold)" in shown["detail"]
    browser.evaluate("document.querySelector('#browser-0 tr.open').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "report-sample-browser.png")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_injected_script_does_not_run(browser: ReportBrowser, report_file: Path):
    browser.open(report_file.as_uri() + "#run=1")
    # a real click on the row of the hostile output opens its details
    box = browser.evaluate("""(() => { const r = document.querySelector('#browser-1 tr[data-id="trained:0"]')
        .getBoundingClientRect(); return [r.x + 20, r.y + r.height / 2]; })()""")
    browser.click_at(box[0], box[1])
    state = browser.evaluate("""({
        title: document.title, pwned: window.pwned === undefined ? null : window.pwned,
        element: document.getElementById('pwned') !== null,
        images: document.querySelectorAll('main img').length,
        italic: document.querySelectorAll('main i, main b').length,
        raw: document.querySelector('#browser-1 .detail pre.raw').textContent,
        cell: document.querySelector('#browser-1 tr[data-id="trained:0"] td:last-child').textContent,
        query: (() => { const d = document.querySelector('#browser-1 .detail details');
            d.open = true; d.dispatchEvent(new Event('toggle')); return d.textContent; })(),
        group: document.querySelector('#browser-1 tr[data-id="trained:0"]').dataset.group,
        ts: document.querySelector('#browser-2 tr[data-id="ENVIRONMENT_4"] td:last-child').textContent,
    })""".replace("ENVIRONMENT_4", TOOLSPECTRUM_IDS[4]))
    assert state["title"] != "pwned" and state["title"].startswith("pertool report")
    assert state["pwned"] is None and not state["element"] and state["images"] == 0 and state["italic"] == 0
    assert state["raw"] == HOSTILE and state["cell"].startswith('</script><script>document.title="pwned"')
    assert "<script>document.title='pwned'</script>" in state["query"]  # dataset text, shown as text
    assert state["group"] == "<i>Mega</i>Mart"
    assert state["ts"] == "I cannot decide </script><script>window.pwned=1</script>"
    browser.evaluate("document.querySelector('#browser-1').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "report-injection.png")
