"""Class `exit_codes`: a server or transport failure is not the model's format error.

Failed requests are `no_answer`: counted apart (table, metrics.json, score of a run, report,
compare) and left out of every metric; when every request failed the eval exits non-zero with
exactly "N of N requests failed; see errors.jsonl" and prints no table; a fatal failure
(401/403) is one error line, exit 2; `--resume` fills the gaps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostile import Case, assert_one_line_error, case, pertool
from hostile._runs import GOLD, bench, evaluate, pertool_here, records

CASES: list[Case] = []


def _stub(respond: Any) -> Any:
    from pertool.testing.openai_stub import StubServer

    return StubServer(respond)


def _reply(**kwargs: Any) -> Any:
    from pertool.testing.openai_stub import Reply

    return Reply(**kwargs)


def _eval_here(work: Path, url: str, out: Path, *extra: str) -> Any:
    return pertool_here("eval", "--benchmark", f"ptbench:{work / 'bench'}", "--model", "openai-compatible/m",
                        "--base-url", url, "--out", out, "--no-progress", "--max-attempts", "1",
                        "--backoff-cap", "0", "--timeout", "5", *extra)  # fmt: skip


def _all_failed(proc: Any, n: int) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert proc.returncode not in (0, 2), f"exit {proc.returncode}: {proc.stderr[-400:]}"
    assert f"pertool: error: {n} of {n} requests failed; see errors.jsonl" in proc.stderr.splitlines(), proc.stderr
    assert proc.stdout == "", proc.stdout[-300:]  # no table of zeros


FAILURES = {
    **{f"http-{code}": {"status": code, "json": {"error": "x"}} for code in (400, 404, 408, 409, 422, 429,
                                                                            500, 502, 503, 504)},
    "drop": {"drop": True}, "garbage-200": {"raw": b"<html>oops</html>"}, "empty-200": {"raw": b""},
    "no-choices": {"json": {"choices": []}}, "html-500": {"status": 500, "raw": b"<h1>down</h1>"},
}  # fmt: skip


def _all_fail_case(name: str, reply: dict[str, Any], json_mode: bool) -> None:
    @case(CASES, f"every-request-{name}{'-json' if json_mode else ''}")
    def run(work: Path) -> None:
        bench(work, n=1)
        with _stub(lambda body, req: _reply(**reply)) as server:
            proc = _eval_here(work, server.url, work / "run", *(["--json"] if json_mode else []))
        _all_failed(proc, 2)
        assert len(records(work / "run" / "errors.jsonl")) == 2
        metrics = json.loads((work / "run" / "metrics.json").read_text())
        assert metrics["no_answer"] == 2 and metrics["errors"]["overall"]["format"] == 0


for _i, (_name, _reply_kwargs) in enumerate(FAILURES.items()):
    _all_fail_case(_name, _reply_kwargs, json_mode=_i % 2 == 1)


@case(CASES, "every-request-500-subprocess-with-retries")
def all_500_subprocess(work: Path) -> None:
    bench(work)
    with _stub(lambda body, req: _reply(status=500, json={"error": "x"})) as server:
        proc = evaluate(work, server.url, work / "run", "--max-attempts", "2")
    _all_failed(proc, 4)


@case(CASES, "connection-refused")
def refused(work: Path) -> None:
    import socket

    bench(work, n=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proc = _eval_here(work, f"http://127.0.0.1:{port}/v1", work / "run")
    _all_failed(proc, 2)


for _code in (401, 403):
    def _fatal(work: Path, code: int = _code) -> None:
        bench(work, n=1)
        with _stub(lambda body, req: _reply(status=code, json={"error": "no"})) as server:
            proc = _eval_here(work, server.url, work / "run")
        assert_one_line_error(proc, code=2, mentions=str(code))

    CASES.append(Case(f"fatal-{_code}-is-one-line", _fatal))


def _partial(failing: set[str]) -> Any:
    from pertool.testing.openai_stub import chat

    def respond(body: Any, request: Any) -> Any:
        if any(f in json.dumps(body) for f in failing):
            return _reply(status=503, json={"error": "busy"})
        return _reply(json=chat(GOLD))

    return respond


PARTIAL = {"one": {"Order 0 packs"}, "one-per-split": {"Order 1 packs", "Buy 0 pens"},
           "all-but-one": {"Order 0", "Order 2", "Buy 0", "Buy 1", "Buy 2"}, "a-whole-split": {"Buy "}}  # fmt: skip


def _partial_case(name: str, failing: set[str]) -> None:
    @case(CASES, f"partial-{name}-no-answer-apart-then-resume")
    def run(work: Path) -> None:
        bench(work, n=3)
        out = work / "run"
        with _stub(_partial(failing)) as server:
            proc = _eval_here(work, server.url, out)
        assert proc.returncode == 0, proc.stderr[-500:]
        failed = len(records(out / "errors.jsonl"))
        assert failed > 0
        assert f"{6 - failed} of 6 samples answered; {failed} no answer, retry with --resume" in proc.stdout
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["no_answer"] == failed and metrics["answered"] == 6 - failed
        assert metrics["counts"]["overall"] == 6 - failed and metrics["errors"]["overall"]["format"] == 0
        score = pertool_here("score", "--benchmark", f"ptbench:{work / 'bench'}", "--predictions",
                             out / "predictions.jsonl", "--json")  # fmt: skip
        assert score.returncode == 0 and json.loads(score.stdout)["splits"] == metrics["splits"]
        board = pertool_here("compare", out)
        assert board.returncode == 0 and f"{failed} no answer" in board.stdout, board.stdout
        with _stub(_partial(set())) as server:
            config = json.loads((out / "config.json").read_text())
            config["options"]["base_url"] = server.url
            (out / "config.json").write_text(json.dumps(config))
            done = pertool_here("eval", "--resume", out, "--no-progress", "--json")
            assert done.returncode == 0 and len(server.requests) == failed, done.stderr[-300:]
        assert json.loads(done.stdout)["no_answer"] == 0


for _name, _failing in PARTIAL.items():
    _partial_case(_name, _failing)


@case(CASES, "report-shows-no-answer")
def report_no_answer(work: Path) -> None:
    bench(work)
    with _stub(_partial({"Order 0 packs"})) as server:
        assert _eval_here(work, server.url, work / "run").returncode == 0
    proc = pertool("report", work / "run", "--out", work / "r.html")
    assert proc.returncode == 0, proc.stderr[-300:]
    page = (work / "r.html").read_text(encoding="utf-8")
    assert "3 of 4 samples answered; 1 no answer" in page and "(1 no answer)" in page


@case(CASES, "resume-after-all-failed-fills-everything")
def resume_all_failed(work: Path) -> None:
    bench(work)
    with _stub(lambda body, req: _reply(status=503, json={})) as server:
        _all_failed(_eval_here(work, server.url, work / "run"), 4)
    with _stub(_partial(set())) as server:
        config = json.loads((work / "run" / "config.json").read_text())
        config["options"]["base_url"] = server.url
        (work / "run" / "config.json").write_text(json.dumps(config))
        proc = pertool_here("eval", "--resume", work / "run", "--no-progress", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["answered"] == 4, proc.stderr[-300:]


@case(CASES, "retries-in-the-summary")
def retries_summary(work: Path) -> None:
    from pertool.testing.openai_stub import chat

    bench(work, n=1)
    seen: set[str] = set()

    def flaky(body: Any, request: Any) -> Any:
        key = json.dumps(body)
        if key not in seen:
            seen.add(key)
            return _reply(status=503, json={"error": "busy"})
        return _reply(json=chat(GOLD))

    with _stub(flaky) as server:
        proc = _eval_here(work, server.url, work / "run", "--max-attempts", "3")
    assert proc.returncode == 0 and "2 retries" in proc.stdout, proc.stdout[-400:]
