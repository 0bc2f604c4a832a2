"""What every managed server (`vllm/`, `llamacpp/`) shares, on the `vllm serve` stand-in."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from pertool.errors import BackendError
from pertool.models.base import Request
from pertool.models.registry import ModelOptions, create_backend
from pertool.testing.backends import complete_once

FAKE_VLLM = Path(__file__).parent / "stand_ins" / "fake_vllm.py"


def test_retries_are_still_counted_after_the_server_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run reads the count for metrics.json after closing its backend."""
    monkeypatch.setenv("PERTOOL_VLLM_EXECUTABLE", shlex.join([sys.executable, str(FAKE_VLLM)]))
    monkeypatch.setenv("FAKE_VLLM_ANSWER_DELAY", "2")  # slower than the timeout: every attempt fails
    backend = create_backend("vllm/m", ModelOptions(timeout_s=0.2, max_attempts=2, backoff_cap_s=0))
    with pytest.raises(BackendError, match="gave up after 2 attempts"):
        complete_once(backend, Request(messages=({"role": "user", "content": "hi"},)))
    assert backend.pid is None  # closed
    assert backend.retries == 1  # type: ignore[attr-defined]
    assert backend.last_retry_reason  # type: ignore[attr-defined]
