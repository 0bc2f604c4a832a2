"""SIGTERM is Ctrl-C: one path for both, so `kill PID`, a CI timeout or a container stop keep
finished work, stop managed servers and print how to resume, exactly like Ctrl-C does.

The handler calls whatever handles SIGINT at that moment: Python's default (raises
KeyboardInterrupt) or asyncio.run's (cancels the main task first, so `finally` blocks and
backends close in order; a second signal raises KeyboardInterrupt at once). The exit status is
128 + the signal number: 130 after Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["install", "exit_code", "interrupted"]

_received: list[int] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored or default at C level: behave like Python's default
        raise KeyboardInterrupt


def install() -> None:
    """Route SIGTERM through the SIGINT path (main thread only, as signal handlers must be)."""
    _received.clear()
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (pertool called from a library's worker thread)
        pass


def exit_code() -> int:
    """128 + the first signal that stopped the command (SIGINT when none was recorded)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def interrupted(resume_hint: str) -> int:
    """Tell the user the command stopped and how to finish it; returns the exit status."""
    what = "terminated" if _received else "interrupted"
    print(f"\npertool: {what}; {resume_hint}", file=sys.stderr)
    return exit_code()
