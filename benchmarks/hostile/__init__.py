"""Hostile-input case classes for benchmarks/hostile_inputs.py.

Each module here is one failure class and exposes `CASES: list[Case]`. A case is a function
that gets a fresh temporary directory and raises (AssertionError or anything else) when pertool
misbehaves: a traceback instead of one line, a hang past its bound, a lost or deleted file, a
wrong exit code, a leaked secret. Returning normally means pertool handled the input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Case", "case", "pertool", "assert_one_line_error"]

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Path], None]


def case(registry: list[Case], name: str | None = None) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    """Decorator: add a function to a module's CASES list."""

    def add(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        registry.append(Case(name or fn.__name__, fn))
        return fn

    return add


def pertool(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess:  # fmt: skip
    """Run the CLI as a subprocess with a bounded wait (a hang raises TimeoutExpired)."""
    return subprocess.run([*PERTOOL, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd, **kwargs)  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess, *, code: int = 2, mentions: str = "") -> None:
    """A refusal the way pertool promises it: exit `code`, no traceback, one `pertool: error:` line."""
    assert "Traceback" not in proc.stderr, f"traceback:\n{proc.stderr[-2000:]}"
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}: {proc.stderr[-500:]}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(errors) == 1, f"expected one error line, got: {proc.stderr[-500:]}"
    if mentions:
        assert mentions in errors[0], f"error does not name {mentions!r}: {errors[0]}"
