"""Watching processes from tests and hostile-input benchmarks (Linux /proc): is a pid alive, wait
until it is gone, every process below a pid, wait for a condition, the records of a JSONL file.
Every wait has a bound."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["alive", "descendants", "gone", "jsonl_records", "wait_for"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a zombie nobody reaped yet is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False  # vanished between the two looks


def gone(pid: int, within_s: float = 5.0) -> bool:
    """True once `pid` has exited (polled), False if it is still there after `within_s`."""
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (in its own session or not), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_for(predicate: Callable[[], Any], within_s: float = 30.0) -> None:
    """Poll `predicate` until it is true; AssertionError after `within_s`."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting")
        time.sleep(0.05)


def jsonl_records(file: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file pertool wrote (split on "\\n" only); [] when it is missing."""
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").split("\n") if line]
