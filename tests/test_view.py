"""`pertool view` as a user meets it: the server a real subprocess over a runs directory of
real run directories (two of `example`, one of `builtin-mini:test`, one broken), driven by
headless Chromium: a run appears and its progress moves while it is written, a filter narrows
the table, a sample opens (the run's report, two runs side by side). Plus what a hostile URL,
a link out of the directory and Ctrl-C get."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pertool.cli.main import main
from pertool.kinds import kind_of_samples
from pertool.kinds.kind import gold_text
from pertool.report.compare import build_leaderboard, load_runs
from pertool.runner.run import EvalConfig, finish, select_samples
from pertool.runner.rundir import RunDir, append_line
from pertool.testing.browser import ReportBrowser
from support.cli import PERTOOL
from support.rundirs import write_run

EVIL_MODEL = "<i>evil</i>-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def outputs(config: EvalConfig, wrong_every: int = 0) -> dict[str, str]:
    samples = select_samples(config)
    return {s.id: "no idea" if wrong_every and i % wrong_every == 0 else gold_text(s) for i, s in enumerate(samples)}


class Viewer:
    """`pertool view DIR --port P` as a subprocess; stopped (SIGINT) at the end."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.proc = subprocess.Popen([*PERTOOL, "view", str(root), "--port", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ})  # fmt: skip
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(20)
        if not first or "serving" not in first[0]:
            self.proc.kill()
            raise AssertionError(f"pertool view did not start: {first} {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}/"
        assert self.url in first[0]

    def get(self, path: str, host: str | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host or f"127.0.0.1:{self.port}")
        conn.endheaders()
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        return response.status, body

    def stop(self) -> subprocess.CompletedProcess:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=10)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for name, config, wrong in (("ex-good", EvalConfig(benchmark="example", model="good-model", resamples=200), 0),
                                ("ex-bad", EvalConfig(benchmark="example", model=EVIL_MODEL, resamples=200), 2),
                                ("mini", EvalConfig(benchmark="builtin-mini:test", model="good-model", limit=6,
                                                    resamples=200), 3)):  # fmt: skip
        write_run(root / name, config, outputs(config, wrong))
    nested = EvalConfig(benchmark="builtin-mini:train", model="ablated-model", limit=4, resamples=0)
    write_run(root / "ablate-x" / "limit-4", nested, outputs(nested))  # as `pertool ablate` nests its runs
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"benchmark": "example", "model": ')  # half-written
    return root


@pytest.fixture(scope="module")
def viewer(runs_dir: Path) -> Iterator[Viewer]:
    server = Viewer(runs_dir)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


def rows(browser: ReportBrowser) -> dict[str, dict[str, str]]:
    """The leaderboard's visible rows: name -> status, progress, the overall cell, the test cell."""
    return browser.evaluate("""Object.fromEntries(Array.from(document.querySelectorAll('tr.run'))
        .filter((tr) => tr.offsetParent !== null).map((tr) => [tr.dataset.name, {
            status: tr.dataset.status, progress: (tr.querySelector('.count') || {}).textContent || '',
            overall: ((tr.querySelector('td.metric[data-key="overall"] .value')
                       || tr.querySelector('td.metric[data-key="accuracy"] .value')) || {}).textContent || '',
            test: tr.querySelector('td.test').textContent, problem: tr.querySelector('td.problem').textContent}]))""")


def wait_rows(browser: ReportBrowser, check, timeout_s: float = 10) -> dict[str, dict[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = rows(browser)
        if check(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"the leaderboard never got there: {seen}")
        time.sleep(0.1)


def test_the_leaderboard_holds_every_run_with_compare_marks(browser: ReportBrowser, viewer: Viewer, runs_dir: Path):
    browser.open(viewer.url)
    seen = wait_rows(browser, lambda r: {"ex-good", "ex-bad", "mini", "broken"} <= set(r))
    assert seen["broken"]["status"] == "problem" and "config.json" in seen["broken"]["problem"]
    assert seen["ex-good"]["overall"] == "1.0000" and seen["ex-good"]["test"] == "best"
    # the paired test is the one `pertool compare` makes, with its defaults
    board = build_leaderboard(load_runs([runs_dir / "ex-good", runs_dir / "ex-bad"]))
    test = board.tests[1]
    assert test is not None and test.p_value is not None
    assert seen["ex-bad"]["test"].startswith(f"{test.difference:+.4f}") and f"p {test.p_value:.4f}" in seen["ex-bad"]["test"]
    assert browser.evaluate("document.querySelectorAll('#board i').length") == 0  # the model name is text
    assert EVIL_MODEL in browser.evaluate("document.getElementById('board').textContent")


def test_a_run_appears_while_written_and_its_progress_moves(browser: ReportBrowser, viewer: Viewer, runs_dir: Path):
    browser.open(viewer.url)
    wait_rows(browser, lambda r: "ex-good" in r)
    browser.evaluate("window.notReloaded = true")
    config = EvalConfig(benchmark="example", model="live-model", resamples=200)
    samples = select_samples(config)
    run = RunDir.create(runs_dir / "live", config.model_dump(mode="json"), lock=True)  # held: "running"
    try:
        seen = wait_rows(browser, lambda r: "live" in r)
        assert seen["live"]["status"] == "running" and seen["live"]["progress"] == f"0 / {len(samples)}"
        finished: dict[str, dict[str, str]] = {}
        with run.appender("predictions.jsonl") as out:
            for step, upto in enumerate((3, len(samples))):
                for s in samples[len(finished):upto]:
                    finished[s.id] = {"id": s.id, "output": gold_text(s) if step == 0 else "no idea"}
                    append_line(out, finished[s.id])
                if step == 1:
                    out.write('{"id": "torn')  # a half-written line, as a writer leaves it mid-write
                    out.flush()
                seen = wait_rows(browser, lambda r, n=upto: r["live"]["progress"] == f"{n} / {len(samples)}")
                # partial scores: the answered samples only (all right after the first step)
                expected = 1.0 if step == 0 else 3 / len(samples)
                assert seen["live"]["overall"] == f"{expected:.4f}", seen["live"]
                assert seen["live"]["status"] == "running" and seen["live"]["test"].startswith("partial")
        (runs_dir / "live" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in finished.values()))
        finish(run, config, samples, finished)
    finally:
        run.unlock()
    seen = wait_rows(browser, lambda r: r["live"]["status"] == "finished")
    assert seen["live"]["test"].startswith("-") and browser.evaluate("window.notReloaded") is True


def test_a_filter_narrows_the_table(browser: ReportBrowser, viewer: Viewer):
    browser.open(viewer.url)
    wait_rows(browser, lambda r: {"ex-good", "mini"} <= set(r))
    browser.page.select_option("#f-benchmark", "builtin-mini:test")
    assert set(rows(browser)) == {"mini"}
    browser.page.select_option("#f-benchmark", "")
    browser.page.select_option("#f-model", EVIL_MODEL)
    assert set(rows(browser)) == {"ex-bad"}
    browser.page.select_option("#f-model", "good-model")
    assert {"ex-good", "mini"} <= set(rows(browser)) and "ex-bad" not in rows(browser)
    polls = browser.evaluate("Number(document.documentElement.dataset.polls)")  # a poll redraws the table
    browser.page.wait_for_function(f"() => Number(document.documentElement.dataset.polls) > {polls}")
    assert "ex-bad" not in rows(browser) and browser.page.input_value("#f-model") == "good-model"


def test_a_sample_opens_in_the_report_and_side_by_side(browser: ReportBrowser, viewer: Viewer, runs_dir: Path):
    browser.open(viewer.url)
    wait_rows(browser, lambda r: "ex-bad" in r)
    browser.page.click('tr.run[data-name="ex-bad"] a')  # the run's report, as `pertool report` writes it
    browser.page.wait_for_function("() => document.documentElement.dataset.ready === '1'")
    assert browser.page.url == viewer.url + "run/ex-bad/" and browser.page.title().startswith("pertool report")
    browser.page.click('#browser-0 tr[data-id="trained:0"]')
    detail = browser.evaluate("document.querySelector('#browser-0 .detail').innerText")
    assert "raw output" in detail and "no idea" in detail
    # two runs ticked, their shared samples, one sample's two answers
    browser.open(viewer.url)
    wait_rows(browser, lambda r: "ex-good" in r)
    browser.page.check('tr.run[data-name="ex-good"] input.pick')
    browser.page.check('tr.run[data-name="ex-bad"] input.pick')
    browser.page.click("#compare-link")
    browser.page.wait_for_selector("tr.sample")
    assert browser.evaluate("document.querySelectorAll('tr.sample').length") == 8
    assert browser.evaluate("document.querySelectorAll('tr.sample.differ').length") == 4
    browser.page.click('tr.sample[data-id="trained:0"] a')
    browser.page.wait_for_selector(".side")
    sides = browser.evaluate("Array.from(document.querySelectorAll('.side .run')).map((d) => ["
                             "d.dataset.run, d.querySelector('pre.output').textContent, d.querySelector('p').innerText])")
    sample = select_samples(EvalConfig(benchmark="example", model="m"))[0]
    assert sides == [["ex-good", gold_text(sample), "correct"], ["ex-bad", "no idea", "wrong (format)"]]
    shown_gold = kind_of_samples([sample]).shown_gold(sample)
    assert browser.evaluate("document.querySelector('pre.gold').textContent") == shown_gold


def test_urls_never_leave_the_runs_directory(viewer: Viewer, runs_dir: Path, tmp_path: Path):
    outside = write_run(tmp_path / "outside-run", EvalConfig(benchmark="example", model="secret-model", resamples=0),
                        outputs(EvalConfig(benchmark="example", model="m")))  # fmt: skip
    (runs_dir / "link-out").symlink_to(outside, target_is_directory=True)
    try:
        for path in ("/run/../../etc/passwd", "/run/..%2F..%2Fetc%2Fpasswd/", "/run/%2Fetc/", "/run/link-out/",
                     f"/run/{'..%2F' * 8}{str(outside).lstrip('/').replace('/', '%2F')}/",
                     "/compare?a=..&b=ex-good", "/compare?a=%2Fetc&b=ex-good&id=x", "/../config.json"):  # fmt: skip
            status, body = viewer.get(path)
            assert status == 404 and "secret-model" not in body, (path, status)
        status, body = viewer.get("/api/runs")
        names = {r["name"] for r in json.loads(body)["runs"]}
        assert status == 200 and "link-out" not in names and {"ex-good", "broken"} <= names
        assert viewer.get("/api/runs", host="attacker.example:80")[0] == 403  # DNS rebinding
        assert viewer.get("/run/broken/")[0] == 422
        assert "ablate-x/limit-4" in names and viewer.get("/run/ablate-x%2Flimit-4/")[0] == 200
        assert viewer.get("/compare?a=ex-good&b=ex-bad&id=nope")[0] == 404
    finally:
        (runs_dir / "link-out").unlink()


def test_bad_input_and_ctrl_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["view", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pertool: error: runs directory") and str(tmp_path / "missing") in err
    assert len(err.splitlines()) == 1
    assert main(["view", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    server = Viewer(tmp_path)
    status, body = server.get("/api/runs")
    assert status == 200 and json.loads(body)["runs"] == []
    done = server.stop()
    assert done.returncode == 0 and "stopped" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
