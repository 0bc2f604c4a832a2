"""`llamacpp/` with the real llama-cpp-python server and the bundled SmolLM2-135M-Instruct GGUF:
real answers, the model's chat template and context window, greedy runs that repeat, and no
server left behind after an eval ends, fails, or is stopped by Ctrl-C or SIGTERM.

The model is real, so the inputs are small: the `example` benchmark (prompts of ~780 tokens)
with --limit and a few output tokens; errors that need no server are checked before any starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pertool.errors import ContextOverflow, MissingDependency, PertoolError, SpecError
from pertool.models.base import Request, Sampling
from pertool.models.llamacpp import LlamaCppBackend
from pertool.models.registry import ModelOptions, create_backend
from pertool.testing.processes import descendants, gone, jsonl_records, wait_for
from support.cli import PERTOOL, run_pertool

SPEC = "llamacpp/smollm2-135m"
# One thread: tests run two at a time on two cores, and llama.cpp's threads wait for each other
# at every step (a busy core makes both wait). Passed through --llamacpp-args, which is tested so.
ONE_THREAD = "--n_threads 1 --n_threads_batch 1"
FRANCE = ({"role": "user", "content": "What is the capital of France? Answer in one word."},)


def llamacpp(spec: str = SPEC, **options: object) -> LlamaCppBackend:
    backend = create_backend(spec, ModelOptions(**options))  # type: ignore[arg-type]
    assert isinstance(backend, LlamaCppBackend)
    return backend


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def servers_below(pid: int) -> dict[int, list[str]]:
    """The llama_cpp.server processes below `pid`, with their command lines."""
    found = {child: cmdline(child) for child in descendants(pid)}
    return {child: argv for child, argv in found.items() if "llama_cpp.server" in argv}


def start_eval(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen([*PERTOOL, "eval", "--benchmark", "example", "--model", SPEC, "--no-progress",
                             "--no-cache", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


def run_watched(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[int, str, str, dict[int, list[str]]]:
    """`pertool eval` on the example benchmark; returns its exit code, output and every server seen below it."""
    proc = start_eval(tmp_path, *args)
    seen: dict[int, list[str]] = {}
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            assert time.monotonic() < deadline, "pertool eval did not finish"
            seen.update(servers_below(proc.pid))
            time.sleep(0.1)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr, seen


@pytest.fixture(autouse=True)
def _model(smollm2_gguf: Path) -> Path:
    """Every test needs the packaged model (skipped without it, a failure under CI=1)."""
    return smollm2_gguf


# -- before any process starts ------------------------------------------------------------------


def test_the_command_line_takes_the_models_window_and_the_users_flags(smollm2_gguf: Path) -> None:
    backend = llamacpp()
    assert backend.context_window == 8192
    argv = backend.command(4321)
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert argv[argv.index("--model") + 1] == str(smollm2_gguf.resolve())
    assert argv[argv.index("--n_ctx") + 1] == "8192"
    assert argv[argv.index("--port") + 1] == "4321" and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--model_alias") + 1] == "smollm2-135m"
    assert backend.identity() == {"backend": "llamacpp", "model": "smollm2-135m",
                                  "gguf": str(smollm2_gguf.resolve()),
                                  "gguf_bytes": smollm2_gguf.stat().st_size, "llamacpp_args": ""}

    mine = llamacpp(llamacpp_args="--n_ctx=1024 --n_threads 1 --seed 7")
    argv = mine.command(4321)
    assert mine.context_window == 1024
    assert [a for a in argv if a.startswith("--n_ctx")] == ["--n_ctx=1024"]  # the user's wins, once
    assert argv.count("--n_threads") == 1 and argv[argv.index("--n_threads") + 1] == "1"
    assert argv[-2:] == ["--seed", "7"]
    assert mine.identity()["llamacpp_args"] == "--n_ctx=1024 --n_threads 1 --seed 7"
    assert llamacpp(llamacpp_args="--n_ctx 0").context_window == 8192  # 0: llama.cpp's "the model's"

    path = llamacpp(f"llamacpp/{smollm2_gguf}")  # a path works as well as the name
    assert path.context_window == 8192 and path.served_name == str(smollm2_gguf)


@pytest.mark.parametrize(("spec", "options", "message"), [
    ("llamacpp/no-such-model", {}, "llamacpp/no-such-model: no such file, and not a bundled model (smollm2-135m)"),
    (SPEC, {"adapter": "lora"}, "takes no --adapter"),
    (SPEC, {"llamacpp_args": "--port 9000"}, "--llamacpp-args: --port is set by pertool"),
    (SPEC, {"llamacpp_args": "--model_alias=x"}, "--llamacpp-args: --model_alias is set by pertool"),
    (SPEC, {"llamacpp_args": "--n_ctx lots"}, "--llamacpp-args: --n_ctx 'lots' is not a whole number"),
    (SPEC, {"llamacpp_args": "--chat_format 'chatml"}, "No closing quotation"),
])  # fmt: skip
def test_bad_specs_and_options_fail_before_any_server(spec: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(PertoolError) as error:
        create_backend(spec, ModelOptions(**options))  # type: ignore[arg-type]
    assert message in str(error.value)


def test_files_that_are_not_gguf_models(tmp_path: Path) -> None:
    text = tmp_path / "model.gguf"
    text.write_text("not a model\n")
    with pytest.raises(SpecError, match=r"model.gguf is not a GGUF file \(it does not start with 'GGUF'\)"):
        create_backend(f"llamacpp/{text}", ModelOptions())
    with pytest.raises(SpecError, match="is a directory; give a .gguf file"):
        create_backend(f"llamacpp/{tmp_path}", ModelOptions())
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)  # opening it to read the magic would wait for a writer forever
    with pytest.raises(SpecError, match="pipe.gguf is not a regular file"):
        create_backend(f"llamacpp/{fifo}", ModelOptions())
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    with pytest.raises(PertoolError, match="not a readable GGUF header at byte 16: count .* exceeds"):
        create_backend(f"llamacpp/{corrupt}", ModelOptions())


def test_without_llama_cpp_the_error_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # how Python spells "not installed"
    with pytest.raises(MissingDependency) as error:
        create_backend(SPEC, ModelOptions())
    assert "pip install 'pertool[llamacpp]'" in str(error.value) and "missing llama_cpp" in str(error.value)


def test_cli_errors_are_one_line_and_start_nothing(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for model, message in ((f"llamacpp/{text}", "is not a GGUF file"), ("llamacpp/smollm9", "no such file")):
        result = run_pertool("eval", "--benchmark", "example", "--model", model, "--out", tmp_path / "run",
                             "--no-progress", timeout=60)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("pertool: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1
        assert not (tmp_path / "run").exists()


# -- one real server, in this process -----------------------------------------------------------


@pytest.mark.slow
def test_real_answers_through_the_models_template_and_window(smollm2_dir: Path) -> None:
    """A short window (--n_ctx 256) so a prompt that does not fit is cheap to send."""
    from transformers import AutoTokenizer

    backend = llamacpp(llamacpp_args=f"--n_ctx 256 {ONE_THREAD}")
    too_long = Request(messages=({"role": "user", "content": "hello world " * 200},),
                       sampling=Sampling(max_tokens=8))  # fmt: skip

    async def use() -> tuple[object, str]:
        async with backend:
            answer = await backend.complete(Request(messages=FRANCE, sampling=Sampling(max_tokens=12)))
            with pytest.raises(ContextOverflow) as refused:  # the server's HTTP 400, classified
                await backend.complete(too_long)
            # Fits alone, not with its max_tokens: the server would quietly shorten the answer;
            # pertool counts it as an overflow, as hf/ does.
            with pytest.raises(ContextOverflow) as shortened:
                await backend.complete(Request(messages=FRANCE, sampling=Sampling(max_tokens=250)))
            assert shortened.value.window == 256 and shortened.value.max_tokens == 250
            assert shortened.value.prompt_tokens == answer.input_tokens
            return answer, str(refused.value)

    answer, refusal = asyncio.run(use())
    assert backend.context_window == 256
    assert "Paris" in answer.text  # type: ignore[attr-defined]
    # The server applied the chat template of the GGUF file: its prompt is exactly as many tokens
    # as the model's own template (Transformers, from the same file) makes of the messages.
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    templated = tokenizer.apply_chat_template(list(FRANCE), add_generation_prompt=True, tokenize=False)
    assert answer.input_tokens == len(tokenizer(templated, add_special_tokens=False)["input_ids"])  # type: ignore[attr-defined]
    assert 0 < answer.output_tokens <= 12  # type: ignore[attr-defined]
    assert "HTTP 400" in refusal and "This model's maximum context length is 256 tokens" in refusal
    assert backend.pid is None and backend.log_path is not None and not backend.log_path.exists()


# -- pertool eval, a server per run -------------------------------------------------------------


@pytest.mark.slow
def test_eval_scores_real_answers_greedy_runs_repeat_and_no_server_outlives_them(tmp_path: Path) -> None:
    outputs = []
    for run in ("first", "second"):
        code, stdout, stderr, seen = run_watched(tmp_path, "--limit", "2", "--max-tokens", "12", "--out",
                                                 str(tmp_path / run), "--llamacpp-args", ONE_THREAD)  # fmt: skip
        assert code == 0, stderr
        assert f"{SPEC} on example" in stdout and "Overall" in stdout and "tokens: " in stdout
        [(pid, argv)] = seen.items()  # one server per run
        assert argv[argv.index("--n_ctx") + 1] == "8192"  # the model's window, not llama.cpp's 2048
        assert argv.count("--n_threads") == 1 and argv[-4:] == ONE_THREAD.split()
        assert gone(pid), "the server outlived pertool eval"
        records = jsonl_records(tmp_path / run / "predictions.jsonl")
        assert len(records) == 2 and all(r["output"].strip() and r["output_tokens"] > 0 for r in records)
        assert all(r["input_tokens"] > 500 for r in records)  # the whole prompt reached the model
        outputs.append({r["id"]: r["output"] for r in records})
    assert outputs[0] == outputs[1]  # greedy: the same answers from a fresh server


@pytest.mark.slow
def test_a_server_that_exits_before_ready_shows_its_log_and_leaves_nothing(tmp_path: Path) -> None:
    code, _, stderr, seen = run_watched(tmp_path, "--limit", "2", "--out", str(tmp_path / "run"),
                                        "--llamacpp-args", "--no_such_flag 1", timeout=120)  # fmt: skip
    assert code == 1 and "2 of 2 requests failed; see errors.jsonl" in stderr
    errors = jsonl_records(tmp_path / "run" / "errors.jsonl")
    assert len(errors) == 2
    message = errors[0]["error"]
    assert message.startswith("llama_cpp.server exited before it was ready (exit code 2)")
    assert "--model_alias smollm2-135m --no_such_flag 1" in message  # the command line
    assert "unrecognized arguments: --no_such_flag 1" in message  # the tail of its log
    assert all(gone(pid) for pid in seen)
    log = Path(message.split("  log: ")[1].split("\n")[0])
    assert log.exists()  # kept: the error points to it
    log.unlink()


@pytest.mark.slow
def test_a_server_not_ready_in_time_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERTOOL_LLAMACPP_READY_TIMEOUT_S", "0.5")
    code, _, stderr, seen = run_watched(tmp_path, "--limit", "1", "--out", str(tmp_path / "run"), timeout=120)
    assert code == 1, stderr
    [error] = jsonl_records(tmp_path / "run" / "errors.jsonl")
    assert error["error"].startswith("llama_cpp.server was not ready after 0.5 s")
    assert seen and all(gone(pid) for pid in seen)
    Path(error["error"].split("  log: ")[1].split("\n")[0]).unlink()


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_the_server_while_it_serves(tmp_path: Path, sig: int, code: int) -> None:
    proc = start_eval(tmp_path, "--out", str(tmp_path / "run"), "--max-tokens", "12", "--llamacpp-args", ONE_THREAD)
    try:
        servers: dict[int, list[str]] = {}

        def serving() -> bool:
            servers.update(servers_below(proc.pid))
            if not servers:
                return False
            argv = next(iter(servers.values()))
            try:  # ready: pertool's first request is on its way
                return httpx.get(f"http://127.0.0.1:{argv[argv.index('--port') + 1]}/v1/models", timeout=2).is_success
            except httpx.HTTPError:
                return False

        wait_for(serving, within_s=120)
        time.sleep(0.5)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert f"pertool eval --resume {tmp_path / 'run'}" in stderr and "Traceback" not in stderr
    assert all(gone(pid) for pid in servers)
