"""`llamacpp/<bundled name or path.gguf>`: llama-cpp-python's OpenAI-compatible server, started,
used and stopped by pertool (extra `llamacpp`).

    <python> -m llama_cpp.server --model FILE --host 127.0.0.1 --port N --n_ctx CTX
        --n_threads T --model_alias NAME [<--llamacpp-args, split like a shell would>]

CTX is the model's own context window, read from the GGUF header (`<arch>.context_length`), so
a prompt is never cut to llama-cpp-python's default of 2,048 tokens; T is the CPUs this process
may use. `--n_ctx` or `--n_threads` in --llamacpp-args win. The chat template is the one in the
GGUF file (the server's default when no --chat_format is given).

The server evaluates one request at a time, so requests are sent one at a time: --timeout then
bounds the work on a request, not its wait in the server's queue. Process management (own
process group, readiness, stop on close, error, Ctrl-C, SIGTERM and exit) is
`managed_server.py`'s.

PERTOOL_LLAMACPP_EXECUTABLE replaces `<python> -m llama_cpp.server` (a command line);
PERTOOL_LLAMACPP_READY_TIMEOUT_S changes how long loading may take (default 600 s).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pertool.errors import ContextOverflow, MissingDependency, SpecError
from pertool.models import bundled
from pertool.models.base import Completion, Request
from pertool.models.gguf_header import context_length, is_gguf
from pertool.models.managed_server import ManagedServerBackend
from pertool.models.registry import ModelOptions

__all__ = ["LlamaCppBackend", "create"]

# Flags pertool sets itself: the server must listen where pertool looks, under the name it asks for.
_OWN_FLAGS = ("--model", "--host", "--port", "--model_alias", "--config_file")
# What `llama-cpp-python[server]` brings (found without importing: llama_cpp loads its library).
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                   "pydantic_settings")  # fmt: skip


class LlamaCppBackend(ManagedServerBackend):
    name = "llamacpp"
    program = "llama_cpp.server"
    stop_grace_s = 3.0  # nothing to flush; uvicorn would otherwise wait for a request in progress
    max_in_flight = 1

    def __init__(
        self,
        model: str,
        gguf: Path,
        options: ModelOptions,
        *,
        context_window: int,
        threads: int,
        executable: Sequence[str] | None = None,
        ready_timeout_s: float = 600.0,
        poll_interval_s: float = 0.25,
    ):
        default = [sys.executable, "-m", "llama_cpp.server"]
        super().__init__(model, options, executable=list(executable or default),
                         ready_timeout_s=ready_timeout_s, poll_interval_s=poll_interval_s)  # fmt: skip
        self.model = model
        self.gguf = gguf
        self.context_window = context_window  # tokens: prompt and answer together
        self.threads = threads
        self.extra_args = shlex.split(options.llamacpp_args)

    def identity(self) -> dict[str, Any]:
        # The file (a path may be replaced by another model) and the server's flags change answers.
        return {"backend": "llamacpp", "model": self.model, "gguf": str(self.gguf),
                "gguf_bytes": self.gguf.stat().st_size,
                "llamacpp_args": self.options.llamacpp_args}  # fmt: skip

    def command(self, port: int) -> list[str]:
        argv = [*self.executable, "--model", str(self.gguf), "--host", "127.0.0.1", "--port", str(port)]
        if _flag_value(self.extra_args, "--n_ctx") is None:
            argv += ["--n_ctx", str(self.context_window)]
        if _flag_value(self.extra_args, "--n_threads") is None:
            argv += ["--n_threads", str(self.threads)]
        return argv + ["--model_alias", self.model, *self.extra_args]

    async def complete(self, request: Request) -> Completion:
        completion = await super().complete(request)
        # The server refuses a prompt of n_ctx tokens or more (HTTP 400, classified as an
        # overflow by openai_compat), but one that fits while its max_tokens do not gets a
        # quietly shortened answer; pertool counts that as an overflow too, as hf/ does before
        # generating, so both backends draw the same line (prompt + max_tokens > window).
        prompt, wanted, window = completion.input_tokens, request.sampling.max_tokens, self.context_window
        if prompt and window is not None and prompt + wanted > window:
            raise ContextOverflow(
                f"llamacpp/{self.model}: the prompt ({prompt} tokens) and max_tokens ({wanted}) exceed "
                f"the server's context window of {window} tokens",
                prompt_tokens=prompt, max_tokens=wanted, window=window,
            )  # fmt: skip
        return completion

    def missing_program(self) -> str:
        return ("is llama-cpp-python installed? pip install 'pertool[llamacpp]', "
                "or set PERTOOL_LLAMACPP_EXECUTABLE")  # fmt: skip


def create(rest: str, options: ModelOptions) -> LlamaCppBackend:
    if options.adapter:
        raise SpecError(f"llamacpp/{rest} takes no --adapter; give a GGUF LoRA adapter to the server "
                        "with --llamacpp-args \"--lora_path FILE\"")  # fmt: skip
    gguf = _gguf_file(rest)
    try:
        extra = shlex.split(options.llamacpp_args)
    except ValueError as exc:
        raise SpecError(f"--llamacpp-args {options.llamacpp_args!r}: {exc}") from None
    for flag in _OWN_FLAGS:
        if _flag_value(extra, flag) is not None:
            raise SpecError(f"--llamacpp-args: {flag} is set by pertool for llamacpp/ (drop it)")
    window = _context_window(gguf, extra)
    command = os.environ.get("PERTOOL_LLAMACPP_EXECUTABLE")
    if not command:
        missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingDependency(f"llamacpp/ (missing {', '.join(missing)})", "llamacpp")
    timeout = float(os.environ.get("PERTOOL_LLAMACPP_READY_TIMEOUT_S") or 600)
    return LlamaCppBackend(rest, gguf.resolve(), options, context_window=window, threads=_cpus(),
                           executable=shlex.split(command) if command else None,
                           ready_timeout_s=timeout)  # fmt: skip


def _gguf_file(rest: str) -> Path:
    """The GGUF file a spec names: a bundled model's, or a path; checked before any process starts."""
    path = bundled.resolve_gguf(rest)  # MissingBundle (with its pip command) for an absent package
    if not path.exists():
        names = ", ".join(bundled.BUNDLED)
        raise SpecError(f"llamacpp/{rest}: no such file, and not a bundled model ({names}); "
                        "give a .gguf path or a bundled name (pertool models list)")  # fmt: skip
    if path.is_dir():
        raise SpecError(f"llamacpp/{rest}: {path} is a directory; give a .gguf file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise SpecError(f"llamacpp/{rest}: {path} is not a regular file; give a .gguf file")
    if not is_gguf(path):
        raise SpecError(f"llamacpp/{rest}: {path} is not a GGUF file (it does not start with 'GGUF')")
    return path


def _context_window(gguf: Path, extra: list[str]) -> int:
    """The server's window: --n_ctx from --llamacpp-args if given (0 means the model's), else the
    model's own from its header."""
    given = _flag_value(extra, "--n_ctx")
    if given is not None:
        try:
            value = int(given)
        except ValueError:
            raise SpecError(f"--llamacpp-args: --n_ctx {given!r} is not a whole number") from None
        if value < 0:
            raise SpecError(f"--llamacpp-args: --n_ctx {value} is negative")
        if value > 0:
            return value
    return context_length(gguf)  # GGUFError (one line) for a header it cannot read


def _flag_value(args: list[str], flag: str) -> str | None:
    """The value given to `flag` (`--flag V` or `--flag=V`; the last one wins, as in argparse)."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag:
            value = args[i + 1] if i + 1 < len(args) else ""
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
    return value


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
