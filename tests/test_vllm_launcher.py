"""`vllm/<path>` against a stand-in `vllm serve` (tests/stand_ins/fake_vllm.py): launch, readiness,
adapter flags, and above all that no server outlives its backend."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pertool.errors import BackendError
from pertool.models.base import Request
from pertool.models.registry import ModelOptions, create_backend
from pertool.models.vllm import VLLMBackend
from pertool.testing.processes import alive, gone

FAKE_VLLM = Path(__file__).parent / "stand_ins" / "fake_vllm.py"
HELLO = Request(messages=({"role": "user", "content": "hello"},))


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point pertool at the stand-in; returns the file where it writes its pid and argv."""
    monkeypatch.setenv("PERTOOL_VLLM_EXECUTABLE", shlex.join([sys.executable, str(FAKE_VLLM)]))
    monkeypatch.setenv("FAKE_VLLM_DELAY", "0.3")  # not ready at once: the launcher must wait
    monkeypatch.setenv("FAKE_VLLM_STATE", str(tmp_path / "state.json"))
    return tmp_path / "state.json"


def vllm(spec: str = "vllm/some/model", **options: object) -> VLLMBackend:
    backend = create_backend(spec, ModelOptions(**options))  # type: ignore[arg-type]
    assert isinstance(backend, VLLMBackend)
    return backend


def test_round_trip_with_adapter_and_extra_args(state: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "my adapter"  # a space: arguments must never pass through a shell
    backend = vllm(adapter=str(adapter), vllm_args="--max-model-len 2048")
    assert backend.identity() == {"backend": "vllm", "model": "some/model", "adapter": str(adapter),
                                  "vllm_args": "--max-model-len 2048"}

    async def use() -> object:
        try:
            return await backend.complete(HELLO)
        finally:
            await backend.aclose()

    completion = asyncio.run(use())
    assert completion.text.startswith("fake vllm answer model=adapter ")  # type: ignore[attr-defined]
    assert (completion.input_tokens, completion.output_tokens) == (7, 5)  # type: ignore[attr-defined]
    argv = json.loads(state.read_text())["argv"]
    assert argv[:2] == ["serve", "some/model"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--lora-modules") + 1] == f"adapter={adapter}"
    assert "--enable-lora" in argv
    assert argv[-2:] == ["--max-model-len", "2048"]
    assert not alive(json.loads(state.read_text())["pid"])
    assert backend.log_path is not None and not backend.log_path.exists()


def test_without_adapter_the_path_is_the_served_name_and_one_server_serves_all(state: Path) -> None:
    backend = vllm()

    async def use() -> list[str]:
        async with backend:
            results = await asyncio.gather(*(backend.complete(HELLO) for _ in range(4)))
            return [result.text for result in results]

    texts = asyncio.run(use())
    assert all(text.startswith("fake vllm answer model=some/model ") for text in texts)
    assert "--enable-lora" not in json.loads(state.read_text())["argv"]


def test_aclose_kills_workers_that_ignore_sigterm(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_CHILD", "1")
    backend = vllm()

    async def use() -> None:
        await backend.start()
        await backend.aclose()

    asyncio.run(use())
    info = json.loads(state.read_text())
    assert not alive(info["pid"])
    assert gone(info["child_pid"])


def test_a_server_that_dies_while_loading_gives_its_log(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_FAIL", "torch.OutOfMemoryError: CUDA out of memory")
    backend = vllm()

    async def use() -> None:
        try:
            with pytest.raises(BackendError) as first:
                await backend.complete(HELLO)
            with pytest.raises(BackendError) as second:  # the same error, not a second launch
                await backend.complete(HELLO)
            assert second.value is first.value
        finally:
            await backend.aclose()

    started = time.monotonic()
    asyncio.run(use())
    assert time.monotonic() - started < 5
    assert backend.log_path is not None and backend.log_path.exists()  # kept for the user to read
    backend.log_path.unlink()


def test_error_message_names_exit_code_command_and_log_tail(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_FAIL", "torch.OutOfMemoryError: CUDA out of memory")
    backend = vllm()
    with pytest.raises(BackendError) as error:
        asyncio.run(backend.start())
    message = str(error.value)
    assert "exited before it was ready (exit code 3)" in message
    assert "serve some/model --host 127.0.0.1 --port" in message
    assert "CUDA out of memory" in message
    assert backend.log_path is not None
    backend.log_path.unlink()


def test_readiness_timeout_stops_the_server(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_DELAY", "60")
    monkeypatch.setenv("PERTOOL_VLLM_READY_TIMEOUT_S", "0.5")
    backend = vllm()
    with pytest.raises(BackendError, match="was not ready after 0.5 s"):
        asyncio.run(backend.start())
    assert backend.log_path is not None
    backend.log_path.unlink()
    assert backend.pid is None


def test_missing_executable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERTOOL_VLLM_EXECUTABLE", "/nonexistent/bin/vllm")
    with pytest.raises(BackendError, match="is vLLM installed"):
        asyncio.run(vllm().start())


def test_cancelled_while_loading_leaves_no_server(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VLLM_DELAY", "60")
    backend = vllm()

    async def cancel_during_start() -> int:
        task = asyncio.create_task(backend.start())
        while backend.pid is None:
            await asyncio.sleep(0.01)
        pid = backend.pid
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    pid = asyncio.run(cancel_during_start())
    assert not alive(pid)
    assert backend.log_path is not None and not backend.log_path.exists()


def test_cancelled_while_serving_leaves_no_server(state: Path) -> None:
    backend = vllm()

    async def runner() -> None:
        async with backend:
            await backend.complete(HELLO)
            await asyncio.sleep(60)

    async def cancel_while_serving() -> None:
        task = asyncio.create_task(runner())
        while not state.exists():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_serving())
    assert not alive(json.loads(state.read_text())["pid"])


def test_ctrl_c_stops_a_server_nobody_closed(state: Path) -> None:
    """A real interpreter, a real SIGINT: the atexit hook must stop the server."""
    script = textwrap.dedent("""
        import asyncio
        from pertool.models.registry import ModelOptions, create_backend

        async def main():
            backend = create_backend("vllm/some/model", ModelOptions())
            await backend.start()
            print(backend.pid, flush=True)
            await asyncio.sleep(60)  # never closes the backend

        asyncio.run(main())
    """)
    runner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert runner.stdout is not None
        pid = int(runner.stdout.readline())
        assert alive(pid)
        runner.send_signal(signal.SIGINT)
        _, stderr = runner.communicate(timeout=20)
    finally:
        runner.kill()
    assert "KeyboardInterrupt" in stderr
    assert not alive(pid)
