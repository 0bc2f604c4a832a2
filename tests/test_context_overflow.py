"""`context_overflow`: a prompt that does not fit the model's context window with its max_tokens.

A server's refusal (each common phrasing, real HTTP against the stub) and the hf backend's own
check (a tiny model given a small window; the real SmolLM2 on a ToolSpectrum prompt over 8,192
tokens) both become a per-sample error of that kind: in errors.jsonl with "kind", counted apart
in metrics.json, left out of the scores, named by eval, score and the HTML report. Any other
400 stays an ordinary failure; nothing is retried or cut.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.errors import BackendError, ContextOverflow
from pertool.models.base import Request, Sampling
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat

GOLD = "MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"
LLAMA_CPP = ("This model's maximum context length is 8192 tokens. However, you requested 14225 tokens "
             "(14225 in the messages, 512 in the completion). Please reduce the length of the messages "
             "or completion.")  # fmt: skip

# (label, status, body, window, prompt tokens, max_tokens): what servers answer, as they word it.
REFUSALS = [
    ("llama-cpp-python", 400, {"error": {"message": LLAMA_CPP, "type": "invalid_request_error",
                                         "param": "messages", "code": "context_length_exceeded"}},
     8192, 14225, 512),
    ("vllm", 400, {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                   "message": "This model's maximum context length is 4096 tokens. However, you requested "
                              "5000 tokens (4488 in the messages, 512 in the completion). Please reduce the "
                              "length of the messages or completion."}, 4096, 4488, 512),
    ("vllm-new", 400, {"error": {"message": "This model's maximum context length is 2048 tokens. However, "
                                            "you requested 512 output tokens and your prompt contains at "
                                            "least 1600 input tokens, for a total of at least 2112 tokens.",
                                 "type": "BadRequestError", "code": 400}}, 2048, 1600, 512),
    ("openai", 400, {"error": {"message": "This model's maximum context length is 128000 tokens. However, "
                                          "your messages resulted in 130001 tokens. Please reduce the length "
                                          "of the messages.", "type": "invalid_request_error",
                               "param": "messages", "code": "context_length_exceeded"}}, 128000, 130001, None),
    ("openai-code-only", 400, {"error": {"message": "Input tokens exceed the configured limit.",
                                         "type": "invalid_request_error", "code": "context_length_exceeded"}},
     None, None, None),
    ("llama-server", 400, {"error": {"code": 400, "message": "the request exceeds the available context size, "
                                     "try increasing it", "type": "exceed_context_size_error",
                                     "n_prompt_tokens": 14225, "n_ctx": 8192}}, 8192, 14225, None),
    ("llama-server-text", 400, "the request exceeds the available context size. try increasing the context "
     "size or enable context shift", None, None, None),
    ("tgi", 422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                           "Given: 4000 `inputs` tokens and 512 `max_new_tokens`", "error_type": "validation"},
     4096, 4000, 512),
    ("sglang", 400, {"object": "error", "message": "The input (9000 tokens) is longer than the model's context "
                                                   "length (8192 tokens).", "code": 400}, 8192, 9000, None),
    ("anthropic", 400, {"type": "error", "error": {"type": "invalid_request_error",
                                                   "message": "prompt is too long: 210000 tokens > 200000 maximum"}},
     200000, 210000, None),
    ("mistral", 400, {"object": "error", "message": "Prompt contains 40000 tokens and 0 draft tokens, too large "
                                                    "for model with 32768 maximum context length"},
     32768, 40000, None),
    ("gemini", 400, [{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "The input token count "
                                "(1200000) exceeds the maximum number of tokens allowed (1048576)."}}],
     1048576, 1200000, None),
]  # fmt: skip

# Refusals that are not about the context window, or not a client error: ordinary failures.
OTHER_ERRORS = [
    ("roles", 400, {"error": {"message": "Conversation roles must alternate user/assistant",
                              "code": "invalid_request"}}),
    ("model", 400, {"error": {"message": "The model `m` does not exist", "code": "model_not_found"}}),
    ("max-tokens", 400, {"error": "max_tokens must be at least 1, got 0."}),
    ("context-word", 400, {"error": {"message": "Invalid value for 'context': expected a string"}}),
    ("entity-too-large", 413, "<html><body>413 Request Entity Too Large</body></html>"),
    ("not-a-client-error", 500, {"error": {"message": LLAMA_CPP}}),
]  # fmt: skip


def reply(status: int, body: Any) -> Reply:
    return Reply(status=status, raw=body.encode()) if isinstance(body, str) else Reply(status=status, json=body)


async def ask(url: str) -> Any:
    backend = OpenAICompatBackend("m", url, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.01))
    try:
        return await backend.complete(Request(messages=({"role": "user", "content": "hi"},)))
    finally:
        await backend.aclose()


@pytest.mark.parametrize(("label", "status", "body", "window", "prompt", "max_tokens"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])  # fmt: skip
def test_each_servers_refusal_is_a_context_overflow_asked_once(label, status, body, window, prompt, max_tokens):
    with StubServer(lambda b, r: reply(status, body)) as server:
        with pytest.raises(ContextOverflow) as caught:
            asyncio.run(ask(server.url))
        assert len(server.requests) == 1  # never retried: it cannot fit the next time either
    overflow = caught.value
    assert (overflow.window, overflow.prompt_tokens, overflow.max_tokens) == (window, prompt, max_tokens)
    assert f"HTTP {status}" in str(overflow) and not overflow.retryable and not overflow.fatal


@pytest.mark.parametrize(("label", "status", "body"), OTHER_ERRORS, ids=[r[0] for r in OTHER_ERRORS])
def test_other_errors_are_not_overflows(label, status, body):
    with StubServer(lambda b, r: reply(status, body)) as server:
        with pytest.raises(BackendError) as caught:
            asyncio.run(ask(server.url))
        assert len(server.requests) == (3 if status == 500 else 1)  # a 500 is still retried
    assert not isinstance(caught.value, ContextOverflow)


@pytest.mark.parametrize(("body", "overflow"), [
    ("This model's maximum context length is " + "9" * 60_000 + " tokens.", True),
    ("1 " * 30_000 + "maximum context length", False),
    ("[" * 50_000, False),
    ('{"error": {"message": "bad", "code": ["context_length_exceeded"]}}', False),
    (b"\xff\xfe maximum context length is 8192 tokens \xc3", True),
], ids=["digits-60k", "digits-before-words", "deep-nesting", "code-a-list", "not-utf8"])  # fmt: skip
def test_hostile_error_bodies_are_judged_quickly(body, overflow):
    raw = body if isinstance(body, bytes) else body.encode()
    with StubServer(lambda b, r: Reply(status=400, raw=raw)) as server:
        started = time.perf_counter()
        with pytest.raises(BackendError) as caught:
            asyncio.run(ask(server.url))
        seconds = time.perf_counter() - started
    assert isinstance(caught.value, ContextOverflow) is overflow
    assert seconds < 5  # linear: a backtracking pattern took minutes on the 60,000 digits
    if overflow:
        assert caught.value.window in (None, 8192)  # never a run of digits read as a window


# --- through `pertool eval`: errors.jsonl, metrics.json, the eval's lines, score and report --------


def bench(tmp_path: Path) -> Path:
    trained = [record(query=f"Order {i} packs of paper.") for i in range(3)]
    untrained = [record(platform="Other", query=f"Buy {i} pens.") for i in range(3)]
    return write_split_dir(tmp_path / "bench", trained, untrained)


def refusing(too_long: set[str], failing: frozenset[str] = frozenset()) -> Any:
    """The gold answer; HTTP 400 (llama-cpp-python's context refusal) for prompts holding one of
    `too_long`; HTTP 400 of another kind for those holding one of `failing`."""

    def respond(body: Any, request: Any) -> Reply:
        text = json.dumps(body)
        if any(marker in text for marker in too_long):
            return reply(*REFUSALS[0][1:3])
        if any(marker in text for marker in failing):
            return reply(*OTHER_ERRORS[0][1:3])
        return Reply(json=chat(GOLD))

    return respond


def evaluate(tmp_path: Path, url: str, out: Path, *extra: str) -> Any:
    return run_pertool("eval", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--model", "openai-compatible/m",
                       "--base-url", url, "--out", out, "--no-progress", "--max-attempts", "1", *extra,
                       env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip


def error_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "errors.jsonl").read_text().splitlines()]


def test_overflows_are_counted_apart_everywhere_and_resume_asks_them_again(tmp_path):
    bench(tmp_path)
    run = tmp_path / "run"
    with StubServer(refusing({"Order 1 packs", "Buy 2 pens"}, frozenset({"Buy 0 pens"}))) as server:
        proc = evaluate(tmp_path, server.url, run)
    assert proc.returncode == 0, proc.stderr
    assert ("pertool: warning: 2 of 6 samples did not fit the model's context window (8192 tokens); "
            "see errors.jsonl") in proc.stderr.splitlines()  # fmt: skip
    assert "1 samples got no answer" in proc.stderr  # the other failure, told apart
    assert "3 of 6 samples answered; 1 no answer, retry with --resume; 2 did not fit the model's context " \
           "window" in proc.stdout  # fmt: skip
    lines = {line["id"]: line for line in error_lines(run)}
    assert lines["trained:1"] == {"id": "trained:1", "error": lines["trained:1"]["error"],
                                  "kind": "context_overflow", "prompt_tokens": 14225, "max_tokens": 512,
                                  "context_window": 8192}  # fmt: skip
    assert "maximum context length is 8192 tokens" in lines["trained:1"]["error"]
    assert lines["untrained:2"]["kind"] == "context_overflow"
    assert set(lines["untrained:0"]) == {"id", "error"}  # an ordinary failure keeps its shape
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["context_overflow"] == 2 and metrics["context_overflow_ids"] == ["trained:1", "untrained:2"]
    assert metrics["failed"] == ["untrained:0"] and metrics["no_answer"] == 3 and metrics["answered"] == 3
    assert metrics["context_window"] == 8192
    # Scored: trained:0 and :2 (right), untrained:1 (the wrong platform); the others in no metric.
    assert metrics["counts"] == {"trained": 2, "untrained": 1, "overall": 3}
    assert metrics["splits"]["trained"]["overall"] == 1.0 and metrics["splits"]["untrained"]["overall"] == 0.0

    scored = run_pertool("score", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--predictions",
                         run / "predictions.jsonl", "--json")  # fmt: skip
    assert scored.returncode == 0 and json.loads(scored.stdout)["context_overflow"] == 2
    # The leaderboard tells them apart too.
    board = run_pertool("compare", run, run, "--format", "markdown", env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})
    assert board.returncode == 0, board.stderr
    assert "3 of 6 samples answered; 1 no answer, retry with --resume; 2 did not fit the model's context " \
           "window" in board.stdout + board.stderr  # fmt: skip
    assert "2 did not fit the model's context window" in scored.stderr
    report = run_pertool("report", run, "--out", tmp_path / "report.html")
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report.html").read_text()
    assert "(1 no answer, 2 context overflow)" in html and "context overflow" in html

    # --resume asks them again (a server restarted with a larger window may take them now).
    with StubServer(refusing(set())) as server:
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "options": {**config["options"],
                                                                           "base_url": server.url}}))
        resumed = run_pertool("eval", "--resume", run, "--no-progress",
                              env={"PERTOOL_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
        assert len(server.requests) == 3
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["context_overflow"] == 0 and metrics["answered"] == 6 and (run / "errors.jsonl").read_text() == ""


def test_every_sample_overflowing_says_so_instead_of_requests_failed(tmp_path):
    bench(tmp_path)
    with StubServer(refusing({"packs of paper", "pens."})) as server:
        proc = evaluate(tmp_path, server.url, tmp_path / "run")
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert ("pertool: error: 6 of 6 samples did not fit the model's context window (8192 tokens); "
            "see errors.jsonl") in proc.stderr.splitlines()  # fmt: skip
    assert "requests failed" not in proc.stderr
    assert [line["kind"] for line in error_lines(tmp_path / "run")] == ["context_overflow"] * 6


def test_all_failed_with_some_overflows_keeps_the_requests_failed_line(tmp_path):
    bench(tmp_path)
    with StubServer(refusing({"packs of paper"}, frozenset({"pens."}))) as server:
        proc = evaluate(tmp_path, server.url, tmp_path / "run", "--json")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert "pertool: error: 6 of 6 requests failed; see errors.jsonl" in lines
    assert "  (3 of 6 samples did not fit the model's context window (8192 tokens); see errors.jsonl)" in lines


# --- the hf backend's own check ------------------------------------------------------------------


def _generate_calls(backend: Any) -> list[int]:
    """Batch sizes the backend generates (a wrapper around its one generate step)."""
    sizes: list[int] = []
    generate = backend._generate
    backend._generate = lambda jobs: sizes.append(len(jobs)) or generate(jobs)
    return sizes


@pytest.fixture(scope="module")
def tiny_small_window(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.real_models import require_packages

    require_packages("torch", "transformers")
    from pertool.training.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny-window") / "model")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 64}))
    return model


@pytest.mark.slow  # building the tiny model: about 10-20 s on 2 busy cores
def test_hf_refuses_only_the_prompt_that_does_not_fit_and_answers_the_others(tiny_small_window):
    from pertool.models.hf import HFBackend

    hf = HFBackend(str(tiny_small_window), batch_size=8)
    assert hf.context_window == 64
    sampling = Sampling(max_tokens=8)
    prompts = ["Book a train", "Order paper " * 40, "Find a hotel", "Reserve a table"]
    sizes = _generate_calls(hf)

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(hf.complete(Request(prompt=p, sampling=sampling)) for p in prompts),
                                        return_exceptions=True)  # fmt: skip
        finally:
            await hf.aclose()

    results = asyncio.run(go())
    overflow = results[1]
    assert isinstance(overflow, ContextOverflow) and overflow.window == 64 and overflow.max_tokens == 8
    assert overflow.prompt_tokens is not None and overflow.prompt_tokens + 8 > 64
    assert "context window of 64 tokens" in str(overflow)
    for answered in (results[0], results[2], results[3]):
        assert not isinstance(answered, BaseException) and answered.output_tokens >= 1
        assert answered.input_tokens + 8 <= 64
    assert sizes == [3]  # the long prompt never joined the batch

    # The boundary: prompt + max_tokens == window fits; one token more does not.
    hf = HFBackend(str(tiny_small_window))
    room = 64 - results[0].input_tokens
    fits = asyncio.run(hf.complete(Request(prompt="Book a train", sampling=Sampling(max_tokens=room))))
    with pytest.raises(ContextOverflow):
        asyncio.run(hf.complete(Request(prompt="Book a train", sampling=Sampling(max_tokens=room + 1))))
    assert fits.input_tokens + fits.output_tokens <= 64
    asyncio.run(hf.aclose())


def long_toolspectrum_dir(source: Path, target: Path) -> Path:
    """A copy of the ToolSpectrum fixture whose environment toolset is long enough that every
    environment prompt exceeds SmolLM2's 8,192 tokens (about 14,000, as the public data's do)."""
    shutil.copytree(source, target)
    api_file = target / "api" / "API_description_environment.json"
    apis = json.loads(api_file.read_text())
    app = next(iter(apis))
    for i in range(80):
        apis[app]["APIs"][f"archivedEndpoint{i}"] = {
            "desc": f"Legacy endpoint {i}, kept for old clients; returns the record set number {i} "
                    "with its history, owners, timestamps and the audit trail of each change.",
            "required_arguments": {f"field{i}_{k}": f"identifier of part {k} of record set {i}" for k in range(3)},
        }  # fmt: skip
    api_file.write_text(json.dumps(apis, indent=1))
    return target


@pytest.mark.slow
def test_smollm2_overflows_a_long_toolspectrum_prompt_without_running_the_model(
        smollm2_dir, toolspectrum_dir, tmp_path):  # fmt: skip
    from pertool.models.hf import HFBackend
    from pertool.runner.run import EvalConfig, run_eval
    from pertool.runner.rundir import RunDir

    data = long_toolspectrum_dir(toolspectrum_dir, tmp_path / "toolspectrum")
    config = EvalConfig(benchmark="toolspectrum:environment", model=f"hf/{smollm2_dir}", data_dir=str(data),
                        limit=1, max_tokens=16, use_cache=False, resamples=0)  # fmt: skip
    run = RunDir.create(tmp_path / "run", config.model_dump(mode="json"))
    report = asyncio.run(run_eval(run, config, show_progress=False))
    assert report.answered == 0 and len(report.context_overflow) == 1
    (line,) = error_lines(tmp_path / "run")
    assert line["kind"] == "context_overflow" and line["context_window"] == 8192 and line["max_tokens"] == 16
    assert line["prompt_tokens"] > 8192
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["context_window"] == 8192 and metrics["context_overflow_ids"] == [line["id"]]

    # The check comes before generation: the model never runs on it.
    from pertool.runner.run import select_samples

    hf = HFBackend(str(smollm2_dir))
    sizes = _generate_calls(hf)
    request = config.task().request(select_samples(config)[0])
    with pytest.raises(ContextOverflow) as caught:
        asyncio.run(hf.complete(request))
    asyncio.run(hf.aclose())
    assert sizes == [] and caught.value.prompt_tokens == line["prompt_tokens"]


# LiteLLM's mapping of a 400 imports a module of its own that pydantic warns about (ReadOnly).
@pytest.mark.filterwarnings("ignore:Item.* using the `ReadOnly` qualifier")
@pytest.mark.slow  # LiteLLM's import and its own handling of the 400: about 10 s
def test_litellm_reads_the_refusal_as_an_overflow_too(stub_server, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download attempt, offline
    pytest.importorskip("litellm")
    from pertool.models.registry import ModelOptions, create_backend

    server = stub_server(lambda b, r: reply(*REFUSALS[0][1:3]))
    backend = create_backend("litellm/openai/m", ModelOptions(base_url=server.url, max_attempts=3))

    async def go() -> Any:
        try:
            return await backend.complete(Request(messages=({"role": "user", "content": "hi"},)))
        finally:
            await backend.aclose()

    with pytest.raises(ContextOverflow) as caught:
        asyncio.run(go())
    assert caught.value.window == 8192 and caught.value.prompt_tokens == 14225
    assert 1 <= len(server.requests) <= 3  # LiteLLM's own client may try twice; pertool never retries it
