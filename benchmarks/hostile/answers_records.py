"""Class `answers_records`: hostile strings in answers, JSONL records, resume and the cache.

Any answer becomes a prediction or a per-sample error, never a crash; every JSONL line
round-trips any string (lone surrogates, U+2028/U+2029/U+0085, NUL, ...) and is split on "\\n"
only; the cache holds only answers that became a record; a run directory of the wrong shape
(predictions.jsonl, config.json, non-UTF-8) is one `pertool: error:` line naming file, line and
field, exit 2; `--limit` is a seeded sample stratified by split.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

from hostile import Case, assert_one_line_error, case, pertool
from hostile._runs import bench, evaluate, pertool_here, raw_answer, records

CASES: list[Case] = []

STRINGS = {
    "lone-high-surrogate": "\\ud800", "lone-low-surrogate": "a\\udc80b", "reversed-pair": "\\udc00\\ud800",
    "line-separator": "\\u2028", "paragraph-separator": "\\u2029", "next-line": "\\u0085", "nul": "\\u0000",
    "file-group-record-separators": "\\u001c\\u001d\\u001e", "cr": "\\r", "vt-ff": "\\u000b\\u000c",
    "bom": "\\ufeff", "emoji-pair": "\\ud83d\\ude00", "quote-backslash": '\\"\\\\', "script": "</script>",
    "all-at-once": "\\ud800\\u2028\\u2029\\u0085\\u0000\\r\\n",
}  # fmt: skip  (JSON escapes, as a server would send them)


def _string_case(name: str, escaped: str) -> None:
    @case(CASES, f"answer-{name}-then-kill-resume-score")
    def run(work: Path) -> None:
        from pertool.testing.openai_stub import StubServer

        bench(work)
        answer = json.loads(f'"MegaMart: x{escaped}y"')
        with StubServer(lambda body, req: raw_answer(f'"MegaMart: x{escaped}y"')) as server:
            out = work / "run"
            proc = evaluate(work, server.url, out)
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
            data = (out / "predictions.jsonl").read_bytes()
            data.decode("utf-8")  # valid UTF-8
            assert data.count(b"\n") == 4, data[:400]
            (out / "predictions.jsonl").write_bytes(data[: data.index(b"\n") + 1] + data[data.index(b"\n") + 1:][:15])
            proc = pertool_here("eval", "--resume", out, "--no-progress")
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
        got = records(out / "predictions.jsonl")
        assert [r["output"] for r in got] == [answer] * 4, got
        proc = pertool_here("score", "--benchmark", f"ptbench:{work / 'bench'}", "--predictions",
                            out / "predictions.jsonl", "--json")  # fmt: skip
        assert proc.returncode == 0 and json.loads(proc.stdout)["missing_predictions"] == [], proc.stderr


for _name, _escaped in STRINGS.items():
    _string_case(_name, _escaped)


@case(CASES, "u2028-answer-report-and-compare-show-it")
def report_and_compare(work: Path) -> None:
    from pertool.testing.openai_stub import StubServer

    bench(work)
    with StubServer(lambda body, req: raw_answer('"MegaMart: a\\u2028b\\u0085c\\ud800d"')) as server:
        for name in ("a", "b"):
            assert evaluate(work, server.url, work / name, "--no-cache").returncode == 0
    proc = pertool("report", work / "a", work / "b", "--out", work / "r.html")
    assert proc.returncode == 0, proc.stderr[-800:]
    page = (work / "r.html").read_text(encoding="utf-8")
    data = json.loads(page.split('id="pertool-data">', 1)[1].split("</script>", 1)[0])
    shown = {s["o"] for r in data["runs"] for s in r["samples"]}
    assert shown == {"MegaMart: a\u2028b\u0085c\ud800d"}, shown
    proc = pertool("compare", work / "a", work / "b")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]


@case(CASES, "cached-lone-surrogate-then-resume")
def cached_surrogate(work: Path) -> None:
    from pertool.testing.openai_stub import StubServer

    bench(work)
    with StubServer(lambda body, req: raw_answer('"MegaMart: \\ud800"')) as server:
        assert evaluate(work, server.url, work / "run").returncode == 0
        (work / "run" / "predictions.jsonl").write_text("")
        proc = pertool_here("eval", "--resume", work / "run", "--no-progress")
        assert proc.returncode == 0, proc.stderr[-800:]
        assert len(server.requests) == 4  # the resume was served from the cache
    assert [r["output"] for r in records(work / "run" / "predictions.jsonl")] == ["MegaMart: \ud800"] * 4


POISON = {
    "text-a-list": {"text": ["parts"]}, "text-null": {"text": None}, "tokens-a-string": {"input_tokens": "x"},
    "not-json": "{oops", "unknown-field": {"bogus": 1}, "tool-calls-a-string": {"tool_calls": "x"},
}  # fmt: skip


def _poison_case(name: str, poison: object) -> None:
    @case(CASES, f"cache-entry-{name}-is-asked-again")
    def run(work: Path) -> None:
        from pertool.testing.openai_stub import Reply, StubServer, chat

        bench(work)
        with StubServer(lambda body, req: Reply(json=chat("MegaMart: fine"))) as server:
            assert evaluate(work, server.url, work / "run").returncode == 0
            value = poison if isinstance(poison, str) else json.dumps({"text": "t", **poison})
            db = sqlite3.connect(Path(os.environ["PERTOOL_CACHE_DIR"]) / "responses.sqlite3")
            db.execute("UPDATE responses SET completion = ?", (value,))
            db.commit()
            db.close()
            (work / "run" / "predictions.jsonl").write_text("")
            proc = pertool_here("eval", "--resume", work / "run", "--no-progress")
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
        got = records(work / "run" / "predictions.jsonl")
        assert len(got) == 4 and all(isinstance(r["output"], (str, type(None))) for r in got), got


for _name, _poison in POISON.items():
    _poison_case(_name, _poison)


@case(CASES, "resume-with-no-cache-asks-again")
def resume_no_cache(work: Path) -> None:
    from pertool.testing.openai_stub import Reply, StubServer, chat

    bench(work)
    with StubServer(lambda body, req: Reply(json=chat("MegaMart: ok"))) as server:
        assert evaluate(work, server.url, work / "run").returncode == 0
        (work / "run" / "predictions.jsonl").write_text("")
        proc = pertool("eval", "--resume", work / "run", "--no-progress", "--no-cache")
        assert proc.returncode == 0, proc.stderr[-500:]
        assert len(server.requests) == 8


# --- run directories of the wrong shape ----------------------------------------------------------

_TEMPLATE: dict[str, Path] = {}


def _finished_run(work: Path) -> Path:
    """A finished oracle run (made once, copied per case)."""
    if "run" not in _TEMPLATE or not _TEMPLATE["run"].exists():
        import tempfile

        keep = Path(tempfile.mkdtemp(prefix="hostile-records-template-"))
        bench(keep)
        proc = pertool("eval", "--benchmark", f"ptbench:{keep / 'bench'}", "--model", "oracle", "--out",
                       keep / "run", "--no-progress")  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-500:]
        _TEMPLATE["run"] = keep / "run"
    shutil.copytree(_TEMPLATE["run"], work / "run")
    return work / "run"


BAD_LINES = {
    "id-a-number": ('{"id": 3, "output": "x"}', "field id"),
    "id-null": ('{"id": null, "output": "x"}', "field id"),
    "output-a-list": ('{"id": "trained:0", "output": ["x"]}', "field output"),
    "output-an-object": ('{"id": "trained:0", "output": {"a": 1}}', "field output"),
    "output-a-number": ('{"id": "trained:0", "output": 1}', "field output"),
    "output-missing": ('{"id": "trained:0"}', "field output"),
    "tokens-a-string": ('{"id": "trained:0", "output": "x", "input_tokens": "9"}', "field input_tokens"),
    "tokens-a-float": ('{"id": "trained:0", "output": "x", "output_tokens": 1.5}', "field output_tokens"),
    "tokens-a-bool": ('{"id": "trained:0", "output": "x", "output_tokens": true}', "field output_tokens"),
    "cached-a-string": ('{"id": "trained:0", "output": "x", "cached": "no"}', "field cached"),
    "latency-a-string": ('{"id": "trained:0", "output": "x", "latency_s": "1"}', "field latency_s"),
    "tool-calls-an-object": ('{"id": "trained:0", "output": "x", "tool_calls": {}}', "field tool_calls"),
    "a-list": ('["trained:0", "x"]', "JSON object"),
    "a-string": ('"trained:0"', "JSON object"),
    "broken-json": ('{"id": "trained:0", "output": "x"', "not valid JSON"),
    "deep-nesting": ("[" * 100_000 + "]" * 100_000, "line 5"),
    "nan-tokens": ('{"id": "trained:0", "output": "x", "input_tokens": NaN}', "field input_tokens"),
}  # fmt: skip
COMMANDS = {"report": ["report", "{run}", "--out", "{run}/r.html"], "compare": ["compare", "{run}"],
            "resume": ["eval", "--resume", "{run}", "--no-progress"]}  # fmt: skip


def _bad_line_case(name: str, line: str, mentions: str, command: str) -> None:
    @case(CASES, f"predictions-{name}-{command}")
    def run(work: Path) -> None:
        out = _finished_run(work)
        file = out / "predictions.jsonl"
        file.write_text(file.read_text(encoding="utf-8") + line + '\n{"id": "z", "output": ""}\n', encoding="utf-8")
        proc = pertool_here(*(a.format(run=out) for a in COMMANDS[command]))
        assert_one_line_error(proc, mentions="predictions.jsonl, line 5")
        assert mentions in proc.stderr, proc.stderr[-300:]


for _i, (_name, (_line, _mentions)) in enumerate(BAD_LINES.items()):
    _bad_line_case(_name, _line, _mentions, list(COMMANDS)[_i % 3])


BAD_CONFIGS = {
    "limit-a-string": ({"limit": "ten"}, "field limit"), "limit-zero": ({"limit": 0}, "field limit"),
    "seed-a-list": ({"seed": [1]}, "field seed"), "unknown-key": ({"surprise": 1}, "field surprise"),
    "tool-mode-unknown": ({"tool_mode": "telepathy"}, "field tool_mode"),
    "benchmark-null": ({"benchmark": None}, "field benchmark"), "model-a-number": ({"model": 7}, "field model"),
    "options-a-list": ({"options": []}, "field options"),
    "option-wrong-type": ({"options": {"timeout_s": "slow"}}, "options.timeout_s"),
    "option-unknown": ({"options": {"warp": 9}}, "options.warp"),
    "resamples-a-string": ({"resamples": "many"}, "field resamples"),
    "a-list": ([], "config.json"), "not-json": ("{", "config.json"),
}  # fmt: skip


def _bad_config_case(name: str, change: object, mentions: str, command: str) -> None:
    @case(CASES, f"config-{name}-{command}")
    def run(work: Path) -> None:
        out = _finished_run(work)
        config = json.loads((out / "config.json").read_text())
        if isinstance(change, dict):
            for key, value in change.items():
                merge = key == "options" and isinstance(value, dict)
                config[key] = {**config[key], **value} if merge else value
            text = json.dumps(config)
        else:
            text = change if isinstance(change, str) else json.dumps(change)
        (out / "config.json").write_text(text)
        proc = pertool_here(*(a.format(run=out) for a in COMMANDS[command]))
        assert_one_line_error(proc, mentions="config.json")
        assert mentions in proc.stderr, proc.stderr[-300:]


for _i, (_name, (_change, _mentions)) in enumerate(BAD_CONFIGS.items()):
    _bad_config_case(_name, _change, _mentions, list(COMMANDS)[_i % 3])


for _i, _bytes in enumerate((b"\xff", b"\xc3(", b"\xed\xa0\x80")):
    def _non_utf8(work: Path, raw: bytes = _bytes, command: str = list(COMMANDS)[_i % 3]) -> None:
        out = _finished_run(work)
        file = out / "predictions.jsonl"
        file.write_bytes(file.read_bytes() + b'{"id": "z", "output": "' + raw + b'"}\n')
        proc = pertool_here(*(a.format(run=out) for a in COMMANDS[command]))
        assert_one_line_error(proc, mentions="predictions.jsonl, line 5")
        assert "UTF-8" in proc.stderr

    CASES.append(Case(f"predictions-non-utf8-{_i}", _non_utf8))


@case(CASES, "torn-last-line-is-cut-by-resume-only")
def torn_line(work: Path) -> None:
    out = _finished_run(work)
    file = out / "predictions.jsonl"
    lines = file.read_bytes().split(b"\n")
    file.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:10])
    before = file.read_bytes()
    assert pertool_here("compare", out).returncode == 0 and file.read_bytes() == before  # readers do not write
    proc = pertool_here("eval", "--resume", out, "--no-progress")
    assert proc.returncode == 0 and len(records(file)) == 4, proc.stderr[-300:]


# --- --limit ---------------------------------------------------------------------------------------


@case(CASES, "limit-is-stratified-and-seeded")
def limit_stratified(work: Path) -> None:
    bench(work, n=5)
    chosen = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "7")):
        proc = pertool("eval", "--benchmark", f"ptbench:{work / 'bench'}", "--model", "oracle", "--limit", "4",
                       "--seed", seed, "--out", work / name, "--no-progress")  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-300:]
        chosen.append([r["id"] for r in records(work / name / "predictions.jsonl")])
    assert chosen[0] == chosen[1] and {i.split(":")[0] for i in chosen[0]} == {"trained", "untrained"}
    assert chosen[0] != chosen[2]  # another seed, another draw
