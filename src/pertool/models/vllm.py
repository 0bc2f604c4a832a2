"""`vllm/<path>`: a `vllm serve` that pertool starts, talks to, and stops.

The server is started on first use (or by `await backend.start()`) on a free loopback port:

    vllm serve <path> --host 127.0.0.1 --port N [--enable-lora --lora-modules adapter=<adapter>]
               [<--vllm-args, split like a shell would>]

Process management (own process group, readiness, stop on close, error, Ctrl-C, SIGTERM and
exit) is `managed_server.py`'s; this module only says how to start vLLM.

PERTOOL_VLLM_EXECUTABLE replaces `vllm` (a command line, e.g. "python fake_vllm.py"; the tests
use it). PERTOOL_VLLM_READY_TIMEOUT_S changes how long loading may take (default 600 s).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

from pertool.models.managed_server import ManagedServerBackend
from pertool.models.registry import ModelOptions

__all__ = ["VLLMBackend", "create"]

ADAPTER_NAME = "adapter"


class VLLMBackend(ManagedServerBackend):
    name = "vllm"
    program = "vllm serve"

    def __init__(
        self,
        path: str,
        options: ModelOptions,
        *,
        executable: Sequence[str] = ("vllm",),
        ready_timeout_s: float = 600.0,
        poll_interval_s: float = 0.25,
    ):
        super().__init__(ADAPTER_NAME if options.adapter else path, options, executable=list(executable),
                         ready_timeout_s=ready_timeout_s, poll_interval_s=poll_interval_s)  # fmt: skip
        self.model = path
        self.adapter = options.adapter

    def identity(self) -> dict[str, Any]:
        # Server flags (dtype, quantization, ...) change answers, so they are part of the cache key.
        return {"backend": "vllm", "model": self.model, "adapter": self.adapter,
                "vllm_args": self.options.vllm_args}  # fmt: skip

    def command(self, port: int) -> list[str]:
        argv = [*self.executable, "serve", self.model, "--host", "127.0.0.1", "--port", str(port)]
        if self.adapter:
            argv += ["--enable-lora", "--lora-modules", f"{ADAPTER_NAME}={self.adapter}"]
        return argv + shlex.split(self.options.vllm_args)

    def missing_program(self) -> str:
        return "is vLLM installed? pip install vllm, or set PERTOOL_VLLM_EXECUTABLE"


def create(rest: str, options: ModelOptions) -> VLLMBackend:
    executable = shlex.split(os.environ.get("PERTOOL_VLLM_EXECUTABLE") or "vllm")
    timeout = float(os.environ.get("PERTOOL_VLLM_READY_TIMEOUT_S") or 600)
    return VLLMBackend(rest, options, executable=executable, ready_timeout_s=timeout)
