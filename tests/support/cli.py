"""Run `pertool` as a real subprocess, with the same interpreter and a bounded wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["PERTOOL", "run_pertool"]

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]


def run_pertool(*args: str | Path, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                timeout: float = 180, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:  # fmt: skip
    """`pertool ARGS...`; `env` entries are added to the current environment."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([*PERTOOL, *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, **kwargs)  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"pertool {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")  # fmt: skip
    return proc
