"""Hostile answers at the backend boundary: every response shape becomes a `Completion` or a
per-sample `BackendError`, never a crash (issue 11, part 3). Real HTTP against the stub server;
the CLI tests run `pertool` as a subprocess."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.answerers.answer_key import AnswerKey
from pertool.errors import BackendError
from pertool.kinds import gold_text, load_benchmark
from pertool.kinds.native_calls import MAX_ARGUMENT_DEPTH, native_answer
from pertool.models.base import Completion
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
from pertool.models.registry import ModelOptions
from pertool.parsing.ptbench import parse_ptbench
from pertool.runner.task import Task
from pertool.schema import Call
from pertool.testing.backends import HELLO, complete_once
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat, tool_calls


@pytest.fixture(scope="module")
def server() -> Any:
    """One stub for the module; each test sets what it answers."""
    with StubServer() as stub:
        yield stub


def ask(server: StubServer, reply: Reply) -> Completion:
    """One request to the stub answering `reply`, with a single attempt (no retry delays)."""
    server.respond = lambda body, request: reply
    backend = OpenAICompatBackend("m", server.url, retry=RetryPolicy(max_attempts=1))

    return complete_once(backend, HELLO)


def ask_error(server: StubServer, reply: Reply) -> BackendError:
    with pytest.raises(BackendError) as info:
        ask(server, reply)
    assert not info.value.fatal, "a malformed answer must not stop the run"
    return info.value


# --- normalized: becomes a Completion ----------------------------------------------------------


@pytest.mark.parametrize(("content", "text"), [
    ("plain", "plain"),
    (None, ""),
    ("", ""),
    ([{"type": "text", "text": "MegaMart:"}, {"type": "text", "text": "[f(a=1)]"}], "MegaMart:[f(a=1)]"),
    (["a", {"type": "text", "text": "b"}], "ab"),
    ([{"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "t"}], "t"),
    ([], ""),
    ("\ud800 \u2028 \x00", "\ud800 \u2028 \x00"),
])  # fmt: skip
def test_content_shapes_become_text(server: StubServer, content: Any, text: str) -> None:
    assert ask(server, Reply(json=chat(content))).text == text


@pytest.mark.parametrize(("usage", "tokens"), [
    ({"prompt_tokens": 12, "completion_tokens": 3}, (12, 3)),
    ({"prompt_tokens": -5, "completion_tokens": 10**12}, (0, 0)),
    ({"prompt_tokens": 7.0, "completion_tokens": 2.5}, (7, 0)),
    ({"prompt_tokens": True, "completion_tokens": "12"}, (0, 0)),
    ({"prompt_tokens": None, "completion_tokens": [1]}, (0, 0)),
    ([1, 2], (0, 0)),
    ("lots", (0, 0)),
    ({}, (0, 0)),
])  # fmt: skip
def test_odd_token_counts_are_recorded_as_unknown(server: StubServer, usage: Any, tokens: tuple[int, int]) -> None:
    completion = ask(server, Reply(json=chat("ok", usage=usage)))
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("ok", *tokens)


def test_tool_call_names_and_arguments_are_kept_as_the_model_sent_them(server: StubServer) -> None:
    body = tool_calls(("", "{}"), ("get-weather", "not json"), ("f", '{"x": NaN}'), ("g", "[1]"))
    completion = ask(server, Reply(json=body))
    assert [c["name"] for c in completion.tool_calls] == ["", "get-weather", "f", "g"]
    assert completion.tool_calls[1]["arguments"] == "not json"


def test_arguments_sent_as_an_object_are_encoded_like_openais(server: StubServer) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": [1, {"b": None}]}}},
        {"type": "function", "function": {"name": "g"}}]}  # fmt: skip
    calls = ask(server, Reply(json=chat(message=message))).tool_calls
    assert json.loads(calls[0]["arguments"]) == {"a": [1, {"b": None}]}
    assert calls[1]["arguments"] == "{}"


# --- per-sample errors: the server broke the wire format -----------------------------------------


def nested(depth: int) -> bytes:
    return b'{"choices": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("reply", [
    Reply(json=chat(message="just a string")),
    Reply(raw=b'{"choices": [{"message": null}]}'),
    Reply(json={"choices": []}),
    Reply(json={"choices": {"0": {"message": {"content": "x"}}}}),
    Reply(json={"choices": ["x"]}),
    Reply(json=[1, 2, 3]),
    Reply(json="a string"),
    Reply(raw=b"<html>502 bad gateway</html>"),
    Reply(raw=b""),
    Reply(raw=b"\xff\xfe\x00garbage"),
    Reply(raw=nested(100_000)),
    Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "x": NaN}'),
    Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "x": 1e999}'),
    Reply(raw=b'{"choices": [{"message": {"content": "x"}}], "x": ' + b"9" * 5000 + b"}"),
    Reply(json=chat(42)),
    Reply(json=chat({"text": "x"})),
    Reply(json=chat(True)),
    Reply(json=chat([{"type": "text", "text": 5}])),
    Reply(json=chat([7])),
    Reply(json=chat(message={"role": "assistant", "tool_calls": "f()"})),
    Reply(json=chat(message={"role": "assistant", "tool_calls": [{"function": None}]})),
    Reply(json=chat(message={"role": "assistant", "tool_calls": ["f"]})),
    Reply(json=chat(message={"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]})),
    Reply(json=chat(message={"role": "assistant", "tool_calls": [{"function": {"name": 3}}]})),
    Reply(json=chat(message={"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]})),
])  # fmt: skip
def test_malformed_answers_are_per_sample_errors(server: StubServer, reply: Reply) -> None:
    error = ask_error(server, reply)
    assert "malformed response" in str(error) and "\n" not in str(error)


def test_deep_nesting_in_an_ignored_field_is_still_an_answer(server: StubServer) -> None:
    body = json.dumps(chat("ok"))[:-1].encode() + b', "extra": ' + b"[" * 300 + b"]" * 300 + b"}"
    assert ask(server, Reply(raw=body)).text == "ok"


# --- native tool mode: a prediction, or the same format failure in eval and in score -------------


def native(*calls: tuple[str, Any], text: str = "") -> Completion:
    return Completion(text=text, tool_calls=[{"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}
                                             for n, a in calls])  # fmt: skip


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


RENDERABLE = [
    native(("book", {"platform": "Rail", "class": "economy", "first-name": "Ann", "seats": 2})),
    native(("book", {"platform": "Rail", "": 1, "with space": "x", "def": None})),
    native(("api.search", {"platform": "Rail", "q": "\ud800\u2028'\"\n", "n": -0.5, "big": 10**300})),
    native(("f", {"platform": "Rail", "x": deep(MAX_ARGUMENT_DEPTH - 1)})),
    native(("f", {"platform": "Odd 'Name'\n"})),
]
FORMAT_FAILURES = [
    native(("", {"platform": "Rail"})),
    native(("get-weather", {"platform": "Rail"})),
    native(("class", {"platform": "Rail"})),
    native(("f", '{"platform": "Rail", "x": NaN}')),
    native(("f", '{"platform": "Rail", "x": Infinity}')),
    native(("f", '{"platform": "Rail", "x": 1e999}')),
    native(("f", '{"platform": "Rail", "x": ' + "1" * 5000 + "}")),
    native(("f", '{"platform": "Rail", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")),
    native(("f", {"platform": "Rail", "x": deep(MAX_ARGUMENT_DEPTH + 5)})),
    native(("f", "not json")),
    native(("f", "[1, 2]")),
    native(("f", {"x": 1})),
    native(("f", {"platform": "A"}), ("g", {"platform": "B"})),
    Completion(text="", tool_calls=[{"name": 3, "arguments": None}]),
    Completion(text="", tool_calls=["f()"]),  # type: ignore[list-item]  # an old cache entry
    Completion(text=""),
]


@pytest.mark.parametrize("completion", RENDERABLE)
def test_renderable_native_calls_read_back_as_the_same_calls(completion: Completion) -> None:
    prediction, rendered = native_answer("s", completion.text, completion.tool_calls)
    assert prediction.parse_error is None and rendered is not None
    back = parse_ptbench(rendered, "s")
    assert (back.platform, back.calls) == (prediction.platform, prediction.calls)
    arguments = json.loads(completion.tool_calls[0]["arguments"])
    platform = arguments.pop("platform")
    assert back.platform == platform.strip() and back.calls[0].arguments == arguments


@pytest.mark.parametrize("completion", FORMAT_FAILURES)
def test_unrenderable_native_calls_are_a_format_failure_not_a_crash(completion: Completion, tmp_path: Path) -> None:
    prediction, rendered = native_answer("s", completion.text, completion.tool_calls)
    assert rendered is None and prediction.parse_error
    task = Task(tool_mode="native")
    sample = load_benchmark(f"ptbench:{class_benchmark(tmp_path, 1)}")[0]
    assert task.output_text(sample, completion) == ""  # scored later exactly as in the eval
    assert parse_ptbench(task.output_text(sample, completion)).parse_error


def test_a_keyword_parameter_round_trips_through_the_text_format() -> None:
    text = "Rail:[book(seats=2, **{'class': 'economy', 'first-name': 'Ann'})]"
    prediction = parse_ptbench(text)
    assert prediction.calls == [Call(name="book", arguments={"seats": 2, "class": "economy", "first-name": "Ann"})]
    for bad in ("Rail:[f(a=1, **{'a': 2})]", "Rail:[f(**{1: 2})]", "Rail:[f(**x)]", "Rail:[f(**{'a': x})]"):
        assert parse_ptbench(bad).parse_error, bad


# --- end to end: eval, then `pertool score` on its predictions.jsonl -----------------------------


def eval_and_rescore(tmp_path: Path, url: str, benchmark: str, *extra: str) -> tuple[dict, dict]:
    out = tmp_path / "run"
    env = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_pertool("eval", "--benchmark", benchmark, "--model", "openai-compatible/m", "--base-url", url,
                       "--out", out, "--json", "--no-progress", "--max-attempts", "1", *extra, env=env)  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    rescored = run_pertool("score", "--benchmark", benchmark, "--predictions", out / "predictions.jsonl",
                           "--json", env=env)  # fmt: skip
    assert rescored.returncode == 0, rescored.stderr[-2000:]
    return json.loads(proc.stdout), json.loads(rescored.stdout)


def test_content_parts_answer_is_scored_normally_and_rescored(tmp_path: Path) -> None:
    benchmark = f"ptbench:{class_benchmark(tmp_path, 4)}"
    key = AnswerKey(load_benchmark(benchmark))

    def respond(body: Any, request: Any) -> Reply:
        text = gold_text(key.lookup(body["messages"]))  # type: ignore[arg-type]
        cut = len(text) // 2
        return Reply(json=chat([{"type": "text", "text": text[:cut]}, {"type": "text", "text": text[cut:]}]))

    with StubServer(respond) as server:
        result, rescored = eval_and_rescore(tmp_path, server.url, benchmark)
    assert result["splits"]["overall"]["overall"] == 1.0
    assert rescored["splits"] == result["splits"]
    outputs = [json.loads(line)["output"] for line in (tmp_path / "run/predictions.jsonl").read_text().splitlines()]
    assert outputs and all(isinstance(o, str) for o in outputs)


def class_benchmark(tmp_path: Path, n: int) -> Path:
    records = [record(platform="Rail", calls=[("bookTrain", {"class": ["economy"], "first-name": ["Ann"]})],
                      query_params=["class"], profile_params=["first-name"], query=f"Book a seat, case {i}.")
               for i in range(n)]  # fmt: skip
    return write_split_dir(tmp_path / "bench", records, [])


def test_native_call_with_an_argument_named_class(tmp_path: Path) -> None:
    root = class_benchmark(tmp_path, 3)
    answer = tool_calls(("bookTrain", {"class": "economy", "first-name": "Ann", "platform": "Rail"}))
    with StubServer(lambda body, request: Reply(json=answer)) as server:
        result, rescored = eval_and_rescore(tmp_path, server.url, f"ptbench:{root}", "--tool-mode", "native")
    assert result["splits"]["overall"]["overall"] == 1.0
    assert rescored["splits"] == result["splits"]
    first = json.loads((tmp_path / "run/predictions.jsonl").read_text().splitlines()[0])
    assert first["output"] == "Rail:[bookTrain(**{'class': 'economy', 'first-name': 'Ann'})]"


def test_hostile_native_calls_score_the_same_in_eval_and_in_score(tmp_path: Path) -> None:
    hostile = [json.dumps(c.tool_calls) for c in FORMAT_FAILURES[:10]] + [json.dumps(RENDERABLE[0].tool_calls)]
    root = class_benchmark(tmp_path, len(hostile))

    def respond(body: Any, request: Any) -> Reply:
        case = int(body["messages"][-1]["content"].rsplit("case ", 1)[1].split(".")[0])
        wire = [{"id": f"c{i}", "type": "function", "function": call} for i, call in enumerate(json.loads(hostile[case]))]
        return Reply(json=chat(message={"role": "assistant", "content": None, "tool_calls": wire}))

    with StubServer(respond) as server:
        result, rescored = eval_and_rescore(tmp_path, server.url, f"ptbench:{root}", "--tool-mode", "native")
    assert result["failed"] == []
    assert rescored["splits"] == result["splits"]
    assert math.isclose(result["splits"]["overall"]["format"], 1 / len(hostile))


# --- LiteLLM: the same boundary behind its client -------------------------------------------------


@pytest.mark.parametrize(("reply", "text"), [
    (Reply(json=chat([{"type": "text", "text": "Rail:"}, {"type": "text", "text": "[f()]"}])), "Rail:[f()]"),
    (Reply(json=chat("ok", usage=[1, 2])), "ok"),
    (Reply(json=chat("ok", usage={"prompt_tokens": -3, "completion_tokens": 10**15})), "ok"),
    (Reply(json=chat(message="just a string")), None),
    (Reply(json={"choices": []}), None),
    (Reply(raw=nested(100_000)), None),
    (Reply(raw=b"<html>no</html>"), None),
    (Reply(json=chat(42)), None),
])  # fmt: skip
# LiteLLM 1.110's own pydantic models warn (UserWarning) on TypedDicts and on shapes they do not
# expect; under -W error those warnings would become LiteLLM's exceptions, not ours.
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_litellm_answers_cross_the_same_boundary(server: StubServer, reply: Reply, text: str | None) -> None:
    """An answer or a per-sample error, never a crash. LiteLLM's client validates first and may
    itself refuse an odd but legitimate shape (content parts, a list `usage`): then it is an error."""
    pytest.importorskip("litellm")
    from pertool.models.registry import create_backend  # imports litellm lazily

    server.respond = lambda body, request: reply
    backend = create_backend("litellm/openai/m", ModelOptions(base_url=server.url, max_attempts=1))

    result: Completion | BackendError
    try:
        result = complete_once(backend, HELLO)
    except BackendError as exc:
        result = exc
    if isinstance(result, BackendError):
        assert not result.fatal and "\n" not in str(result)
    else:
        assert text is not None, f"a malformed answer was accepted: {result}"
        assert result.text == text and 0 <= result.input_tokens and 0 <= result.output_tokens <= 10**9


# --- hf/: tool calls read out of generated text ----------------------------------------------------


@pytest.mark.parametrize("body,calls", [
    ('{"a":' * 100_000 + "1" + "}" * 100_000, []),  # deep nesting: left in the text, no RecursionError
    ('{"name": "f", "arguments": {"x": NaN}}', []),
    ('{"name": "f", "arguments": {"x": 1e999}}', []),
    ('{"name": "f", "arguments": {"x": 1}}', [{"name": "f", "arguments": {"x": 1}}]),
])  # fmt: skip
def test_hf_tool_calls_in_generated_text_are_bounded(body: str, calls: list[Any]) -> None:
    from pertool.models.hf import _tool_calls

    assert _tool_calls(f"<tool_call>\n{body}\n</tool_call>") == calls
