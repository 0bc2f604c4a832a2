"""Honest exit codes: a server or transport failure is not the model's format error. Failed
requests are `no_answer`, counted apart and left out of every metric (eval, score of a run,
report, compare); an eval where every request failed exits non-zero with "N of N requests
failed; see errors.jsonl" and no table; retries show in the summary. Real HTTP (the stub)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat


def bench(tmp_path: Path, n: int = 3) -> Path:
    trained = [record(query=f"Order {i} packs of paper.") for i in range(n)]
    untrained = [record(platform="Other", query=f"Buy {i} pens.") for i in range(n)]
    return write_split_dir(tmp_path / "bench", trained, untrained)


GOLD = "MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"


def evaluate(tmp_path: Path, url: str, out: Path, *extra: str) -> Any:
    return run_pertool("eval", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--model", "openai-compatible/m",
                       "--base-url", url, "--out", out, "--no-progress", "--max-attempts", "1", *extra,
                       env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip


def test_every_request_failing_exits_non_zero_with_the_message(tmp_path):
    bench(tmp_path)
    with StubServer(lambda body, req: Reply(status=500, json={"error": "down"})) as server:
        proc = evaluate(tmp_path, server.url, tmp_path / "run")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pertool: error: 6 of 6 requests failed; see errors.jsonl" in proc.stderr.splitlines()
    assert proc.stdout == ""  # no table of zeros
    assert len((tmp_path / "run" / "errors.jsonl").read_text().splitlines()) == 6
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["no_answer"] == 6 and metrics["answered"] == 0


def test_transport_failures_too(tmp_path):
    bench(tmp_path, n=1)
    with StubServer(lambda body, req: Reply(drop=True)) as server:
        proc = evaluate(tmp_path, server.url, tmp_path / "run", "--json")
    assert proc.returncode != 0 and "2 of 2 requests failed; see errors.jsonl" in proc.stderr
    assert proc.stdout == ""


def answer_unless(failing: set[str]) -> Any:
    """The gold answer, or HTTP 503 for requests whose prompt holds one of `failing`."""

    def respond(body: Any, request: Any) -> Reply:
        text = json.dumps(body)
        if any(f in text for f in failing):
            return Reply(status=503, json={"error": "overloaded"})
        return Reply(json=chat(GOLD))

    return respond


@pytest.mark.slow
def test_partial_failures_are_no_answer_apart_from_the_scores_and_resume_fills_them(tmp_path):
    bench(tmp_path)
    run = tmp_path / "run"
    with StubServer(answer_unless({"Order 0 packs", "Buy 2 pens"})) as server:
        proc = evaluate(tmp_path, server.url, run)
    assert proc.returncode == 0, proc.stderr
    assert "4 of 6 samples answered; 2 no answer, retry with --resume" in proc.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["no_answer"] == 2 and metrics["answered"] == 4
    assert metrics["counts"] == {"trained": 2, "untrained": 2, "overall": 4}
    assert metrics["splits"]["overall"]["format"] == 1.0  # the failures are not format errors
    assert metrics["errors"]["overall"]["format"] == 0
    assert sorted(metrics["failed"]) == ["trained:0", "untrained:2"]

    scored = run_pertool("score", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--predictions",
                         run / "predictions.jsonl", "--json")  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["splits"] == metrics["splits"]
    assert json.loads(scored.stdout)["no_answer"] == 2

    report = tmp_path / "r.html"
    assert run_pertool("report", run, "--out", report).returncode == 0
    page = report.read_text(encoding="utf-8")
    assert "4 of 6 samples answered; 2 no answer" in page and "(2 no answer)" in page
    data = json.loads(re.search(r'id="pertool-data">(.*?)</script>', page, re.S).group(1))
    tagged = {s["i"] for s in data["runs"][0]["samples"] if "no answer" in s.get("t", [])}
    assert tagged == {"trained:0", "untrained:2"}

    board = run_pertool("compare", run, "--format", "csv")
    assert board.returncode == 0 and board.stdout.splitlines()[1].endswith(",2")
    terminal = run_pertool("compare", run).stdout
    assert "4 of 6 samples answered; 2 no answer" in terminal

    with StubServer(answer_unless(set())) as server:
        config = json.loads((run / "config.json").read_text())
        config["options"]["base_url"] = server.url
        (run / "config.json").write_text(json.dumps(config))
        proc = run_pertool("eval", "--resume", run, "--no-progress", "--json",
                           env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
        assert len(server.requests) == 2
    done = json.loads(proc.stdout)
    assert done["no_answer"] == 0 and done["answered"] == 6 and done["failed"] == []
    assert done["splits"]["overall"]["format"] == 1.0 and done["counts"]["overall"] == 6


def test_retries_show_in_the_summary(tmp_path):
    bench(tmp_path, n=1)
    seen: set[str] = set()

    def flaky(body: Any, request: Any) -> Reply:
        key = json.dumps(body)
        if key not in seen:  # the first attempt of each request fails
            seen.add(key)
            return Reply(status=503, json={"error": "busy"})
        return Reply(json=chat(GOLD))

    with StubServer(flaky) as server:
        proc = evaluate(tmp_path, server.url, tmp_path / "run", "--max-attempts", "3", "--backoff-cap", "0")
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith("tokens:")]
    assert summary and "2 retries" in summary[0], proc.stdout
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["usage"]["retries"] == 2
