"""An OpenAI-compatible server that pertool starts, talks to, and stops (`vllm/`, `llamacpp/`).

A subclass says only what differs: the command line for a port, the name the server serves
(readiness checks that `GET /v1/models` lists it), and what to tell a user whose program is
missing. The rest is here, once:

- a free loopback port, and the server in its own session and process group (vLLM forks GPU
  workers), its output in a temporary log file;
- readiness polled with a bound (`ready_timeout_s`); a server that exits or never gets ready is
  a BackendError with its exit code, command line and the tail of its log (the log is kept);
- requests through `OpenAICompatBackend`, so retries and the wire format are shared;
- stopped by `aclose()`, by cancellation while loading, on a failure, and at interpreter exit
  (Ctrl-C and SIGTERM included): SIGTERM to the group, a grace period, then SIGKILL. A forgotten
  server would keep holding a GPU or the CPU.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from pertool.errors import BackendError
from pertool.models.base import Completion, Request
from pertool.models.openai_compat import OpenAICompatBackend
from pertool.models.registry import ModelOptions
from pertool.models.wire import MalformedResponse, load_body

__all__ = ["STOP_GRACE_S", "ManagedServerBackend", "free_port"]

STOP_GRACE_S = 15.0
# servers to stop at exit, with their logs and stop grace periods
_RUNNING: dict[subprocess.Popen[bytes], tuple[Path, float]] = {}
READY_BODY_BYTES = 1 << 20  # a model list; more is not the server we started
_PR_SET_PDEATHSIG = 1
_Backend = TypeVar("_Backend", bound="ManagedServerBackend")


class ManagedServerBackend:
    """A backend served by a child process. Subclasses set `name` and `program` and implement
    `command(port)`, `identity()` and `missing_program()`."""

    name = "managed"
    program = "server"  # how messages name it, e.g. "vllm serve"
    stop_grace_s = STOP_GRACE_S  # between SIGTERM and SIGKILL
    max_in_flight: int | None = None  # requests sent at once (None: the runner's concurrency)
    context_window: int | None = None  # tokens, prompt and answer together, when pertool knows it

    def __init__(
        self,
        served_name: str,
        options: ModelOptions,
        *,
        executable: list[str],
        ready_timeout_s: float = 600.0,
        poll_interval_s: float = 0.25,
    ):
        self.served_name = served_name
        self.options = options
        self.executable = list(executable)
        self.ready_timeout_s = ready_timeout_s
        self.poll_interval_s = poll_interval_s
        self.argv: list[str] = []
        self.log_path: Path | None = None
        self.base_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._client: OpenAICompatBackend | None = None
        self._counted: OpenAICompatBackend | None = None  # kept after close: the run reads retries then
        self._failure: BackendError | None = None
        self._lock = asyncio.Lock()
        # A server that answers one request at a time gets them one at a time, so --timeout
        # bounds the model's work on a request, not its wait in the server's queue.
        self._slots = asyncio.Semaphore(self.max_in_flight) if self.max_in_flight else None

    # -- what a subclass says -------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError

    def missing_program(self) -> str:
        """The advice when the executable cannot be run (appended to the OS error)."""
        raise NotImplementedError

    # -- the shared machinery -------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def retries(self) -> int:  # the OpenAI-compatible client's counters (see openai_compat)
        return self._counted.retries if self._counted is not None else 0

    @property
    def last_retry_reason(self) -> str:
        return self._counted.last_retry_reason if self._counted is not None else ""

    async def complete(self, request: Request) -> Completion:
        client = await self.start()
        try:
            if self._slots is None:
                return await client.complete(request)
            async with self._slots:
                return await client.complete(request)
        except BackendError as exc:
            # Connection errors after the server died say nothing useful; its log does.
            if self._process is not None and self._process.poll() is not None:
                self._failure = BackendError(self._exit_message("stopped while serving"))
                raise self._failure from exc
            raise

    async def start(self) -> OpenAICompatBackend:
        """Start the server and wait until it answers; idempotent, concurrent callers share one."""
        async with self._lock:
            if self._failure is not None:  # fail fast: not one model load (or crash) per request
                raise self._failure
            if self._client is not None:
                return self._client
            try:
                await self._launch_and_wait()
            except BackendError as exc:
                self._failure = exc
                self._stop_now()
                raise
            except BaseException:  # cancelled or interrupted while loading: no server left behind
                self._stop_now()
                self._remove_log()
                raise
            assert self.base_url is not None
            self._client = OpenAICompatBackend.from_options(self.served_name, self.base_url, self.options,
                                                            name=self.name)  # fmt: skip
            self._counted = self._client
            return self._client

    async def _launch_and_wait(self) -> None:
        port = free_port()
        self.argv = self.command(port)
        fd, log_name = tempfile.mkstemp(prefix=f"pertool-{self.name}-", suffix=".log")
        self.log_path = Path(log_name)
        try:
            # Popen, not asyncio's subprocess: stopping must also work from atexit, outside any loop.
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_dies_with(os.getpid()),
            )
        except OSError as exc:
            self.log_path.unlink()
            raise BackendError(f"cannot run {shlex.join(self.executable)!r} ({exc}): "
                               f"{self.missing_program()}") from None  # fmt: skip
        finally:
            os.close(fd)  # the child holds its own copy
        _RUNNING[self._process] = (self.log_path, self.stop_grace_s)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.ready_timeout_s
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                if self._process.poll() is not None:
                    raise BackendError(self._exit_message("exited before it was ready"))
                if await self._ready(http):
                    return
                if time.monotonic() > deadline:
                    raise BackendError(self._exit_message(f"was not ready after {self.ready_timeout_s:g} s"))
                await asyncio.sleep(self.poll_interval_s)

    async def _ready(self, http: httpx.AsyncClient) -> bool:
        try:
            async with http.stream("GET", f"{self.base_url}/models") as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():  # whoever holds the port: a bounded read
                    body += chunk
                    if len(body) > READY_BODY_BYTES:
                        return False
            served = [entry.get("id") for entry in load_body(bytes(body)).get("data", [])]
        except (httpx.HTTPError, ValueError, AttributeError, MalformedResponse):
            return False
        # Checking the name guards against another server that took the port first.
        return response.status_code == 200 and self.served_name in served

    def _exit_message(self, what: str) -> str:
        code = self._process.poll() if self._process else None
        status = f" (exit code {code})" if code is not None else ""
        tail = _tail(self.log_path) if self.log_path else ""
        command = shlex.join(self.argv)
        return f"{self.program} {what}{status}\n  command: {command}\n  log: {self.log_path}\n{tail}"

    def _stop_now(self) -> None:
        process, self._process, self._client = self._process, None, None
        if process is not None:
            _stop(process, self.stop_grace_s)

    async def aclose(self) -> None:
        process, client = self._process, self._client
        self._process, self._client = None, None
        if process is not None:
            _signal_group(process, signal.SIGTERM)
            try:  # wait without blocking the loop, but finish the job even if this wait is cancelled
                deadline = time.monotonic() + self.stop_grace_s
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                _stop(process, grace_s=0)
        if client is not None:
            await client.aclose()
        self._remove_log()

    def _remove_log(self) -> None:
        if self.log_path is not None and self._failure is None:  # keep the log a failure points to
            self.log_path.unlink(missing_ok=True)

    async def __aenter__(self: _Backend) -> _Backend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join("  | " + line for line in text.splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group id is the server's pid (start_new_session)


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the group, wait, then SIGKILL it: a worker that outlives the server still holds a GPU.

    Ctrl-C and SIGTERM are held back meanwhile (a second one only cuts the wait short), so no
    signal can land between the two kills and leave the group running."""
    with _signals_held() as pending:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while process.poll() is None and time.monotonic() < deadline and not pending():
                time.sleep(0.05)
        _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        _RUNNING.pop(process, None)


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Any:
    """Block SIGINT and SIGTERM in this thread; yields a function telling whether one arrived.
    They are delivered (as KeyboardInterrupt) when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield lambda: False
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield lambda: bool(signal.sigpending() & _HELD)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@atexit.register
def _stop_all() -> None:
    for process, (log, grace_s) in list(_RUNNING.items()):
        crashed = process.poll() is not None
        try:
            _stop(process, grace_s)
        except KeyboardInterrupt:  # a signal held back during the stop, delivered after it
            pass
        if not crashed:  # a crashed server's log is what its error message points to
            log.unlink(missing_ok=True)


def _dies_with(parent: int) -> Callable[[], None] | None:
    """Run in the child before exec (Linux): the kernel sends it SIGKILL when pertool dies, even
    by kill -9, which leaves no chance to stop it otherwise; a server would keep its cores, its
    memory and its port. The check after arming covers a parent that died in between."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return arm
