"""Hostile answers and records: any string round-trips through every JSONL file, any answer
becomes a prediction or a per-sample error, the cache holds only recorded answers, `--resume`
re-asks what is missing, run directories of the wrong shape are one-line errors, and `--limit`
draws a seeded sample stratified by split. Real HTTP (the stub server), real subprocesses."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.cli.main import main
from pertool.fileio import iter_jsonl, iter_jsonl_values, jsonl_dumps
from pertool.runner.limit import limit_samples
from pertool.runner.rundir import RunDir
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat, tool_calls

HOSTILE = ["\ud800", "a\udc80b", "\u2028", "\u2029", "\u0085", "\x00", "\x1c\x1d\x1e", "\r", "\x0b\x0c",
           "\ufeff", "\U0001f600", '"\\', "</script>", "\ud83d\ude00"]  # fmt: skip


def bench(tmp_path: Path, n: int = 3) -> Path:
    trained = [record(query=f"Order {i} packs of paper.") for i in range(n)]
    untrained = [record(platform="Other", query=f"Buy {i} pens.") for i in range(n)]
    return write_split_dir(tmp_path / "bench", trained, untrained)


def env(tmp_path: Path) -> dict[str, str]:
    return {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}


def evaluate(tmp_path: Path, url: str, out: Path, *extra: str, check: bool = True) -> Any:
    return run_pertool("eval", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--model",
                       "openai-compatible/m", "--base-url", url, "--out", out, "--no-progress",
                       "--max-attempts", "1", *extra, env=env(tmp_path), check=check)  # fmt: skip


def resume(tmp_path: Path, out: Path, *extra: str) -> Any:
    return run_pertool("eval", "--resume", out, "--no-progress", *extra, env=env(tmp_path), check=True)


def raw_answer(content_json: str) -> Reply:
    """A 200 answer whose content is written exactly as given (JSON escapes included)."""
    body = ('{"choices":[{"message":{"role":"assistant","content":' + content_json + '}}],'
            '"usage":{"prompt_tokens":3,"completion_tokens":2}}')  # fmt: skip
    return Reply(raw=body.encode())


def outputs(run: Path) -> dict[str, Any]:
    return {i: r["output"] for i, r in RunDir(run).finished().items()}


# --- the JSONL codec ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_any_string_round_trips_on_one_utf8_line(tmp_path, text):
    line = jsonl_dumps({"id": "x", "output": f"<{text}>"})
    encoded = (line + "\n").encode("utf-8")  # valid UTF-8: no lone surrogate left raw
    assert encoded.count(b"\n") == 1 and len(line.splitlines()) == 1
    file = tmp_path / "f.jsonl"
    file.write_bytes(encoded * 3)
    lines = [value for _, value in iter_jsonl_values(file)]
    expected = f"<{text}>" if text != "\ud83d\ude00" else "<\U0001f600>"  # a pair is one character
    assert [r["output"] for r in lines] == [expected] * 3


def test_a_torn_last_line_is_skipped_and_cut_only_by_the_writer(tmp_path):
    file = tmp_path / "p.jsonl"
    whole = jsonl_dumps({"id": "a", "output": "x\u2028y"}) + "\n"
    file.write_text(whole + '{"id": "b", "outp', encoding="utf-8")
    assert [n for n, _ in iter_jsonl(file)] == [1]
    assert file.read_text(encoding="utf-8").endswith("outp")  # a reader does not write
    assert len(list(iter_jsonl(file, repair=True))) == 1 and file.read_text(encoding="utf-8") == whole
    file.write_text(whole + whole.rstrip("\n"), encoding="utf-8")  # whole, only the "\n" missing
    assert len(list(iter_jsonl(file, repair=True))) == 2 and file.read_text(encoding="utf-8") == whole * 2


def test_writers_refuse_what_is_not_json_before_writing():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            jsonl_dumps({"v": bad})


# --- answers through a run ----------------------------------------------------------------------


@pytest.mark.slow
def test_hostile_text_in_answers_then_resume_report_compare_score(tmp_path):
    """U+2028 and friends, a lone surrogate and NUL in answers: the run, a resume after a kill,
    the HTML report, compare and score all read the predictions and show the text."""
    bench(tmp_path)
    answer = "MegaMart: placeOrder(productName='paper \u2028\u2029\u0085\ud800\x00 x')"
    with StubServer(lambda body, req: raw_answer(json.dumps(answer))) as server:
        run = tmp_path / "run"
        evaluate(tmp_path, server.url, run)
        assert set(outputs(run).values()) == {answer} and len(outputs(run)) == 6
        lines = (run / "predictions.jsonl").read_bytes().split(b"\n")
        assert len(lines) == 7 and lines[-1] == b""  # one line per record, valid UTF-8
        (run / "predictions.jsonl").write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:20])  # a kill
        resume(tmp_path, run)
        assert outputs(run) == {i: answer for i in outputs(run)} and len(outputs(run)) == 6
        other = tmp_path / "other"
        evaluate(tmp_path, server.url, other, "--no-cache")
    report = tmp_path / "r.html"
    run_pertool("report", run, other, "--out", report, check=True)
    match = re.search(r'id="pertool-data">(.*?)</script>', report.read_text(encoding="utf-8"), re.S)
    assert match
    shown = [s["o"] for r in json.loads(match.group(1))["runs"] for s in r["samples"]]
    assert shown == [answer] * 12
    board = run_pertool("compare", run, other, "--format", "csv", check=True)
    assert "Traceback" not in board.stderr and board.stdout.count("\n") == 3
    scored = run_pertool("score", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--predictions",
                         run / "predictions.jsonl", "--json", check=True)  # fmt: skip
    assert json.loads(scored.stdout)["missing_predictions"] == []


def test_a_cached_lone_surrogate_answer_then_resume(tmp_path):
    bench(tmp_path)
    with StubServer(lambda body, req: raw_answer('"MegaMart: \\ud800"')) as server:
        run = tmp_path / "run"
        evaluate(tmp_path, server.url, run)
        asked = len(server.requests)
        (run / "predictions.jsonl").write_text("")  # as if killed before any line was written
        resume(tmp_path, run)
        assert len(server.requests) == asked  # every answer came from the cache
    assert set(outputs(run).values()) == {"MegaMart: \ud800"}
    assert all(r["cached"] for r in RunDir(run).finished().values())


def test_an_answer_in_the_cache_that_cannot_be_recorded_is_asked_again(tmp_path):
    """An older version cached answers that cannot become a record (text not a string): a
    resume drops them from the cache and asks the model again instead of crashing."""
    bench(tmp_path)
    with StubServer(lambda body, req: Reply(json=chat("MegaMart: fine"))) as server:
        run = tmp_path / "run"
        evaluate(tmp_path, server.url, run)
        db = sqlite3.connect(tmp_path / "cache" / "responses.sqlite3")
        db.execute("""UPDATE responses SET completion = '{"text": ["parts"], "input_tokens": "x"}'""")
        db.commit()
        db.close()
        (run / "predictions.jsonl").write_text("")
        resume(tmp_path, run)
        assert len(server.requests) == 12  # asked again, once each
    assert set(outputs(run).values()) == {"MegaMart: fine"}
    assert (run / "errors.jsonl").read_text() == ""


def test_an_answer_that_cannot_be_recorded_is_a_per_sample_error_and_not_cached(tmp_path):
    """Native mode: a tool call whose arguments cannot be encoded (NaN) is an error line, the
    other samples are predictions, and a resume with a sane server fills the gap."""
    bench(tmp_path)

    def respond(body: Any, request: Any) -> Reply:
        text = json.dumps(body)
        if "Order 1 packs" in text:
            return Reply(raw=_nan_call())
        return Reply(json=tool_calls(("placeOrder", {"platform": "MegaMart", "productName": "paper"})))

    with StubServer(respond) as server:
        run = tmp_path / "run"
        proc = evaluate(tmp_path, server.url, run, "--tool-mode", "native")
        assert "Traceback" not in proc.stderr
        errors = [value for _, value in iter_jsonl_values(run / "errors.jsonl")]
        if errors:  # the backend may also refuse NaN at its boundary: either way no crash, no cache
            assert [e["id"] for e in errors] == ["trained:1"]
            assert len(outputs(run)) == 5
    with StubServer(lambda body, req: Reply(json=tool_calls(("placeOrder", {"platform": "MegaMart"})))) as good:
        config = json.loads((run / "config.json").read_text())
        config["options"]["base_url"] = good.url
        (run / "config.json").write_text(json.dumps(config))
        resume(tmp_path, run)
        assert len(good.requests) == (1 if errors else 0)
    assert len(outputs(run)) == 6


def _nan_call() -> bytes:
    arguments = '{"platform": "MegaMart", "quantity": NaN}'
    return json.dumps(tool_calls(("placeOrder", {}))).replace('"{}"', json.dumps(arguments)).encode()


def test_resume_with_no_cache_asks_again_and_keeps_the_config(tmp_path):
    bench(tmp_path)
    with StubServer(lambda body, req: Reply(json=chat("MegaMart: ok"))) as server:
        run = tmp_path / "run"
        evaluate(tmp_path, server.url, run)
        (run / "predictions.jsonl").write_text("")
        resume(tmp_path, run, "--no-cache")
        assert len(server.requests) == 12
    assert not any(r["cached"] for r in RunDir(run).finished().values())
    assert json.loads((run / "config.json").read_text())["use_cache"] is True


# --- run directories of the wrong shape -----------------------------------------------------------


@pytest.fixture(scope="module")
def template_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template")
    bench(root)
    with StubServer(lambda body, req: Reply(json=chat("MegaMart: ok"))) as server:
        evaluate(root, server.url, root / "run")
    return root


@pytest.fixture
def finished_run(template_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a finished run (its benchmark path is absolute, so it still resolves)."""
    monkeypatch.setenv("PERTOOL_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(template_run / "run", tmp_path / "run")
    return tmp_path / "run"


def one_line_errors(run: Path, capsys: pytest.CaptureFixture) -> list[str]:
    """The error line of report, compare and resume on `run` (in process: fast), each checked
    to be exit 2 with exactly one `pertool: error:` line and no traceback."""
    found = []
    for args in (["report", str(run), "--out", str(run / "r.html")], ["compare", str(run)],
                 ["eval", "--resume", str(run), "--no-progress"]):  # fmt: skip
        code = main(args)
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.startswith("pertool: error:")]
        assert code == 2 and "Traceback" not in err and len(lines) == 1, (args, err)
        found.append(lines[0])
    return found


BAD_RECORDS = [
    ('{"id": 3, "output": "x"}', "field id"),
    ('{"id": "trained:0", "output": ["x"]}', "field output"),
    ('{"id": "trained:0"}', "field output"),
    ('{"id": "trained:0", "output": "x", "input_tokens": "9"}', "field input_tokens"),
    ('{"id": "trained:0", "output": "x", "output_tokens": true}', "field output_tokens"),
    ('{"id": "trained:0", "output": "x", "cached": "no"}', "field cached"),
    ('{"id": "trained:0", "output": "x", "tool_calls": {}}', "field tool_calls"),
    ('["trained:0", "x"]', "JSON object"),
    ('{"id": "trained:0", "output": "x"', "not valid JSON"),
]


@pytest.mark.parametrize(("line", "names"), BAD_RECORDS)
def test_a_bad_predictions_line_is_one_line_naming_file_line_and_field(finished_run, capsys, line, names):
    file = finished_run / "predictions.jsonl"
    file.write_text(file.read_text() + line + "\n" + jsonl_dumps({"id": "x", "output": ""}) + "\n")
    for error in one_line_errors(finished_run, capsys):
        assert "predictions.jsonl, line 7" in error and names in error, error


@pytest.mark.parametrize(("change", "names"), [
    ({"limit": "ten"}, "field limit"), ({"seed": [1]}, "field seed"), ({"surprise": 1}, "field surprise"),
    ({"tool_mode": "telepathy"}, "field tool_mode"), ({"options": {"timeout_s": "slow"}}, "options.timeout_s"),
    ({"options": {"warp": 9}}, "options.warp"), ({"benchmark": None}, "field benchmark"),
])  # fmt: skip
def test_a_bad_config_is_one_line_naming_the_field(finished_run, capsys, change, names):
    config = json.loads((finished_run / "config.json").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if key == "options" else value
    (finished_run / "config.json").write_text(json.dumps(config))
    for error in one_line_errors(finished_run, capsys):
        assert "config.json" in error and names in error, error


def test_non_utf8_predictions_name_their_line(finished_run, capsys):
    file = finished_run / "predictions.jsonl"
    file.write_bytes(file.read_bytes() + b'{"id": "x", "output": "\xff"}\n')
    for error in one_line_errors(finished_run, capsys):
        assert "predictions.jsonl, line 7" in error and "UTF-8" in error, error


# --- --limit: seeded, stratified by split ----------------------------------------------------------


def test_limit_is_stratified_seeded_and_keeps_order():
    from pertool.schema import Sample

    samples = [Sample(id=f"{split}:{i}", benchmark="b", split=split, query="q", gold_platform=None)
               for split, n in (("a", 60), ("b", 30), ("c", 10)) for i in range(n)]  # fmt: skip
    chosen = limit_samples(samples, 10, seed=0)
    assert [s.split for s in chosen].count("a") == 6 and [s.split for s in chosen].count("b") == 3
    assert [s.split for s in chosen].count("c") == 1
    assert chosen == sorted(chosen, key=samples.index)  # the benchmark's order
    assert limit_samples(samples, 10, seed=0) == chosen and limit_samples(samples, 10, seed=1) != chosen
    assert len(limit_samples(samples, 7, seed=3)) == 7 and limit_samples(samples, 500, seed=0) == samples


def test_eval_limit_draws_from_every_split_and_report_sees_the_same(tmp_path):
    bench(tmp_path, n=6)
    with StubServer(lambda body, req: Reply(json=chat("MegaMart: ok"))) as server:
        runs = [tmp_path / name for name in ("a", "b", "c")]
        for run, seed in zip(runs, ("0", "0", "5")):
            evaluate(tmp_path, server.url, run, "--limit", "4", "--seed", seed)
    ids = [sorted(outputs(run)) for run in runs]
    assert ids[0] == ids[1] and {i.split(":")[0] for i in ids[0]} == {"trained", "untrained"}
    assert len(ids[0]) == 4 and ids[2] != ids[0]
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["counts"] == {"trained": 2, "untrained": 2, "overall": 4}
    board = run_pertool("compare", runs[0], runs[1], "--format", "csv", check=True)
    assert "no prediction" not in board.stderr and ",4," in board.stdout


def test_a_pipeline_holding_a_lone_surrogate_resumes(tmp_path):
    """The synth store reads back what its own writer wrote: the \\ud800 escape included."""
    from pertool.runner.rundir import append_line
    from pertool.synth.records import HistoryRecord
    from pertool.synth.store import PipelineDir

    pipeline = PipelineDir(tmp_path)
    record = HistoryRecord(key="user-001/shop/0", user="user-001", scenario="shop", platform="M\ud800",
                           action="bought \u2028 pens \udc80")  # fmt: skip
    with open(tmp_path / "histories.jsonl", "a", encoding="utf-8") as handle:
        append_line(handle, record.model_dump())
    assert pipeline.read("histories", HistoryRecord) == {record.key: record}


@pytest.mark.parametrize("line,where", [
    ('{"key": "k", "user": "u", "scenario": "s", "platform": "p"}', "line 1, field action"),
    ("[" * 100_000, "line 1: not valid JSON: nested too deeply"),
    ('{"key": 1', "line 1: not valid JSON"),
    ('{"key": "k", "user": "u", "scenario": "s", "platform": "p", "action": "a", "x": NaN}', "line 1, field x"),
])  # fmt: skip
def test_a_bad_pipeline_line_names_file_line_and_field(tmp_path, line, where):
    from pertool.errors import DataError
    from pertool.synth.records import HistoryRecord
    from pertool.synth.store import PipelineDir

    (tmp_path / "histories.jsonl").write_text(line + "\n" + line + "\n")
    with pytest.raises(DataError, match=re.escape(where)):
        PipelineDir(tmp_path).read("histories", HistoryRecord)
