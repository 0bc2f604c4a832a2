"""Hostile answers: every response shape and value becomes a Completion (scored, maybe as a
format failure) or a per-sample BackendError, never a crash; native tool calls render so that
eval and `pertool score` agree.

Shape cases run in-process against the stub server (real HTTP) and push each answer through
both tool modes' output and the parser; end-to-end cases run `pertool eval` and `pertool score`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostile import Case, case, pertool
from pertool.errors import BackendError
from pertool.kinds import load_benchmark
from pertool.models.base import Completion
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
from pertool.parsing.ptbench import parse_ptbench
from pertool.runner.task import Task
from pertool.testing.backends import HELLO, complete_once
from pertool.testing.openai_stub import Reply, StubServer, chat, tool_calls

CASES: list[Case] = []
GOOD = "Rail:[bookTrain(seats=2)]"


def bench(root: Path, n: int = 2) -> str:
    """A PTBench-shaped benchmark with a tool whose parameters are `class` and `first-name`."""
    record = {
        "user_profile": {"basic_features": {"username": "ann"}, "user_history": {}},
        "platforms": [{"name": "Rail", "profile": {}}],
        "tools": [{"type": "function", "function": {"name": "bookTrain", "description": "book", "parameters": {
            "type": "object", "properties": {"class": {"type": "string"}, "first-name": {"type": "string"}},
            "required": ["class", "first-name"]}}}],
        "answer": ["Rail", [{"bookTrain": {"class": ["economy"], "first-name": ["Ann"]}}]],
        "query_params": ["class"], "profile_params": ["first-name"],
    }  # fmt: skip
    (root / "bench/test_trained_user").mkdir(parents=True)
    data = [{**record, "query": f"Book a seat, case {i}."} for i in range(n)]
    (root / "bench/test_trained_user/data.json").write_text(json.dumps(data))
    return f"ptbench:{root / 'bench'}"


_server: list[StubServer] = []  # one stub for all shape cases, started on first use


def answer_once(reply: Reply) -> Completion | BackendError:
    if not _server:
        _server.append(StubServer())
    server = _server[0]
    server.respond = lambda body, request: reply
    backend = OpenAICompatBackend("m", server.url, retry=RetryPolicy(max_attempts=1))

    try:
        return complete_once(backend, HELLO)
    except BackendError as exc:
        return exc


def shape_case(name: str, reply: Reply, expect: str) -> None:
    """`expect`: "answer" (a Completion), "error" (a per-sample BackendError)."""

    def run(tmp: Path) -> None:
        result = answer_once(reply)
        if expect == "error":
            assert isinstance(result, BackendError), f"expected a per-sample error, got {result!r}"[:300]
            assert not result.fatal and "\n" not in str(result)
            return
        assert isinstance(result, Completion), f"expected an answer, got {result!r}"[:300]
        assert isinstance(result.text, str) and all(isinstance(c["name"], str) for c in result.tool_calls)
        assert 0 <= result.input_tokens <= 10**9 and 0 <= result.output_tokens <= 10**9
        sample = load_benchmark(bench(tmp, 1))[0]
        for mode in ("text", "native"):
            output = Task(tool_mode=mode).output_text(sample, result)  # type: ignore[arg-type]
            assert isinstance(output, str)
            parse_ptbench(output, sample.id, ["Rail"])  # never raises
        json.dumps(result.to_json())  # what the cache and predictions.jsonl write

    CASES.append(Case(f"shape: {name}", run))


def nested(depth: int) -> bytes:
    return b'{"choices": [{"message": {"content": "x"}}], "deep": ' + b"[" * depth + b"]" * depth + b"}"


def native_call(name: Any, arguments: Any) -> Reply:
    function: dict[str, Any] = {"name": name, "arguments": arguments}
    return Reply(json=chat(message={"role": "assistant", "content": None,
                                    "tool_calls": [{"id": "c", "type": "function", "function": function}]}))  # fmt: skip


ANSWERS: dict[str, Reply] = {
    "plain text": Reply(json=chat(GOOD)),
    "content null": Reply(json=chat(None)),
    "content parts": Reply(json=chat([{"type": "text", "text": "Rail:"}, {"type": "text", "text": "[f()]"}])),
    "content parts with image": Reply(json=chat([{"type": "image_url", "image_url": {}}, "Rail:[f()]"])),
    "content parts empty": Reply(json=chat([])),
    "lone surrogate": Reply(json=chat("Rail:[f(a='\ud800')]")),
    "U+2028 and NUL": Reply(json=chat("Rail:\u2028[f(a='\x00\u0085')]")),
    "usage list": Reply(json=chat("x", usage=[1, 2])),
    "usage negative": Reply(json=chat("x", usage={"prompt_tokens": -1, "completion_tokens": -9})),
    "usage absurd": Reply(json=chat("x", usage={"prompt_tokens": 10**30, "completion_tokens": 1e300})),
    "usage float": Reply(json=chat("x", usage={"prompt_tokens": 3.0, "completion_tokens": 2.7})),
    "usage bool": Reply(json=chat("x", usage={"prompt_tokens": True, "completion_tokens": False})),
    "usage string": Reply(json=chat("x", usage={"prompt_tokens": "12", "completion_tokens": None})),
    "usage string whole": Reply(json=chat("x", usage="many")),
    "no usage": Reply(raw=b'{"choices": [{"message": {"content": "x"}}]}'),
    "deep ignored field": Reply(raw=nested(300)),
    "tool call empty name": native_call("", '{"platform": "Rail"}'),
    "tool call name with dash": native_call("book-train", '{"platform": "Rail"}'),
    "tool call keyword name": native_call("class", '{"platform": "Rail"}'),
    "tool call argument class": native_call("bookTrain", '{"platform": "Rail", "class": "x", "first-name": "A"}'),
    "tool call arguments not JSON": native_call("f", "f(a=1)"),
    "tool call arguments a list": native_call("f", "[1, 2]"),
    "tool call arguments NaN": native_call("f", '{"platform": "Rail", "a": NaN}'),
    "tool call arguments Infinity": native_call("f", '{"platform": "Rail", "a": -Infinity}'),
    "tool call arguments 1e999": native_call("f", '{"platform": "Rail", "a": 1e999}'),
    "tool call arguments huge int": native_call("f", '{"platform": "Rail", "a": ' + "7" * 5000 + "}"),
    "tool call arguments big int": native_call("f", '{"platform": "Rail", "a": ' + "7" * 4000 + "}"),
    "tool call arguments deep": native_call("f", '{"platform": "Rail", "a": ' + "[" * 50_000 + "]" * 50_000 + "}"),
    "tool call arguments 40 deep": native_call("f", '{"platform": "Rail", "a": ' + "[" * 40 + "]" * 40 + "}"),
    "tool call arguments object": native_call("f", {"platform": "Rail", "a": {"b": [1]}}),
    "tool call arguments null": native_call("f", None),
    "tool call arguments empty": native_call("f", ""),
    "tool calls null": Reply(json=chat(message={"role": "assistant", "content": "x", "tool_calls": None})),
    "many tool calls": Reply(json=tool_calls(*[("f", {"platform": "Rail", "i": i}) for i in range(200)])),
}
ERRORS: dict[str, Reply] = {
    "message a string": Reply(json=chat(message="hello")),
    "message null": Reply(raw=b'{"choices": [{"message": null}]}'),
    "message missing": Reply(raw=b'{"choices": [{"index": 0}]}'),
    "choices empty": Reply(json={"choices": []}),
    "choices an object": Reply(json={"choices": {"message": {}}}),
    "choices missing": Reply(json={"id": "x"}),
    "choice a string": Reply(json={"choices": ["x"]}),
    "body a list": Reply(json=[]),
    "body a number": Reply(json=3),
    "body null": Reply(raw=b"null"),
    "body not JSON": Reply(raw=b"<html>oops</html>"),
    "body empty": Reply(raw=b""),
    "body not UTF-8": Reply(raw=b"\xff\xfe\xfd"),
    "body truncated": Reply(raw=b'{"choices": [{"message": {"content": "x'),
    "body deeply nested": Reply(raw=nested(200_000)),
    "body NaN": Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "t": NaN}'),
    "body 1e999": Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "t": 1e999}'),
    "body huge int": Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "t": ' + b"1" * 6000 + b"}"),
    "content a number": Reply(json=chat(42)),
    "content an object": Reply(json=chat({"text": "x"})),
    "content a bool": Reply(json=chat(False)),
    "content part text a number": Reply(json=chat([{"type": "text", "text": 1}])),
    "content part a number": Reply(json=chat([1])),
    "tool_calls a string": Reply(json=chat(message={"role": "assistant", "tool_calls": "f()"})),
    "tool call a string": Reply(json=chat(message={"role": "assistant", "tool_calls": ["f()"]})),
    "tool call function null": Reply(json=chat(message={"role": "assistant", "tool_calls": [{"function": None}]})),
    "tool call name missing": native_call(None, "{}"),
    "tool call name a number": native_call(7, "{}"),
    "tool call name an object": native_call({"n": 1}, "{}"),
    "tool call arguments a number": native_call("f", 5),
    "tool call arguments an array value": native_call("f", [1]),
}
for _name, _reply in ANSWERS.items():
    shape_case(_name, _reply, "answer")
for _name, _reply in ERRORS.items():
    shape_case(_name, _reply, "error")


def eval_and_score(tmp: Path, respond: Any, benchmark: str, *extra: str) -> tuple[dict, dict]:
    out = tmp / "run"
    with StubServer(respond) as server:
        proc = pertool("eval", "--benchmark", benchmark, "--model", "openai-compatible/m", "--base-url", server.url,
                       "--out", out, "--json", "--no-progress", "--max-attempts", "1", *extra)  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 0, proc.stderr[-500:]
    score = pertool("score", "--benchmark", benchmark, "--predictions", out / "predictions.jsonl", "--json")
    assert score.returncode == 0, f"score refused the run's predictions: {score.stderr[-500:]}"
    return json.loads(proc.stdout), json.loads(score.stdout)


@case(CASES, "e2e: content parts scored normally, then re-scored")
def _content_parts(tmp: Path) -> None:
    parts = [{"type": "text", "text": "Rail:[bookTrain("}, {"type": "text", "text": "**{'class': 'economy', "},
             {"type": "text", "text": "'first-name': 'Ann'})]"}]  # fmt: skip
    result, score = eval_and_score(tmp, lambda body, request: Reply(json=chat(parts)), bench(tmp))
    assert result["splits"]["overall"]["overall"] == 1.0, result["splits"]["overall"]
    assert score["splits"] == result["splits"]


@case(CASES, "e2e: native call with arguments named class and first-name")
def _native_class(tmp: Path) -> None:
    answer = tool_calls(("bookTrain", {"class": "economy", "first-name": "Ann", "platform": "Rail"}))
    result, score = eval_and_score(tmp, lambda body, request: Reply(json=answer), bench(tmp), "--tool-mode", "native")
    assert result["splits"]["overall"]["overall"] == 1.0, result["splits"]["overall"]
    assert score["splits"] == result["splits"]


def _native_e2e(name: str, reply: Reply) -> None:
    def run(tmp: Path) -> None:
        result, score = eval_and_score(tmp, lambda body, request: reply, bench(tmp), "--tool-mode", "native")
        assert score["splits"] == result["splits"], "eval and `pertool score` disagree"

    CASES.append(Case(f"e2e native: {name}", run))


for _name in ("tool call empty name", "tool call arguments NaN", "tool call arguments 1e999",
              "tool call arguments deep", "tool call arguments huge int", "tool call keyword name"):  # fmt: skip
    _native_e2e(_name, ANSWERS[_name])


@case(CASES, "e2e: malformed answers are per-sample errors, the run goes on")
def _malformed_run(tmp: Path) -> None:
    replies = [ERRORS["message a string"], ERRORS["body deeply nested"], ANSWERS["usage list"], ERRORS["choices empty"]]
    counter = iter(range(10**6))

    def respond(body: Any, request: Any) -> Reply:
        return replies[next(counter) % len(replies)]

    out = tmp / "run"
    with StubServer(respond) as server:
        proc = pertool("eval", "--benchmark", bench(tmp, 4), "--model", "openai-compatible/m", "--base-url",
                       server.url, "--out", out, "--no-progress", "--max-attempts", "1",
                       "--max-concurrency", "1")  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    errors = (out / "errors.jsonl").read_text().splitlines()
    predictions = (out / "predictions.jsonl").read_text().splitlines()
    assert len(errors) == 3 and len(predictions) == 1, (len(errors), len(predictions))
    assert all("malformed response" in json.loads(line)["error"] for line in errors)
