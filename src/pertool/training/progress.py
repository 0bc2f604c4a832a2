"""The progress line of `pertool train lora`: step/total, loss, tokens/s, elapsed and time left.

    step 12/450  loss 1.873  1,204 tok/s  elapsed 0:02:41  left 1:38:05

On a terminal the line is rewritten in place, at most a few times a second. Anywhere else (a
log file, a pipe) it is written as plain lines: at the first step, then at most one a minute,
and at the last step, so a long run's log stays short. The figures count this session only
(a resumed run's rates are not diluted by the time before the interruption); the loss is the
last one the trainer logged (every `logging_steps` steps). `figures()` gives the same numbers
to the loss log, also when the line is turned off (`show=False`, `--no-progress`).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from transformers import TrainerCallback  # this module is imported only to train

__all__ = ["TrainingProgress", "clock"]

TERMINAL_INTERVAL = 0.25  # seconds between rewrites of the terminal line
LOG_INTERVAL = 60.0  # seconds between plain lines


def clock(seconds: float) -> str:
    """0:02:41 (hours unbounded)."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class TrainingProgress(TrainerCallback):  # type: ignore[misc]
    """A Trainer callback that writes the progress line to `stream` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, interval: float | None = None,
                 show: bool = True) -> None:  # fmt: skip
        self.stream = stream if stream is not None else sys.stderr
        self.show = show  # False: figures() only (the loss log's), no line
        self.terminal = _isatty(self.stream)
        default = TERMINAL_INTERVAL if self.terminal else LOG_INTERVAL
        self.interval = interval if interval is not None else default
        self.loss: float | None = None
        self.step = self.total = 0
        self._begin = (0.0, 0, 0)  # (time, step, tokens) when this session's training began
        self._now = (0.0, 0)  # (time, tokens) at the last step's end
        self._written = -1.0  # when the last line was written
        self._due = False  # a line is to be written once this step's loss is known
        self._open = False  # a terminal line is waiting for its newline

    # Trainer events -----------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        self.step, self.total = state.global_step, state.max_steps
        self._begin = (now, state.global_step, state.num_input_tokens_seen)
        self._now = (now, state.num_input_tokens_seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step, self.total = state.global_step, state.max_steps
        self._now = (time.perf_counter(), state.num_input_tokens_seen)
        first, last = self.step == self._begin[1] + 1, self.step >= self.total
        if first or last or self._now[0] - self._written >= self.interval:
            self._due = True
            if not control.should_log:  # else the line waits for this step's loss (on_log, next)
                self._write()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:  # fmt: skip
        if logs and isinstance(logs.get("loss"), (int, float)):
            self.loss = float(logs["loss"])
            if self.terminal or self._due:  # a terminal shows a new loss at once
                self._write()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._due:  # the step was to log but did not
            self._write()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._due:
            self._write()
        self.close()

    # --------------------------------------------------------------------------------------
    def figures(self) -> dict[str, float | None]:
        """tokens_per_second, elapsed_s, remaining_s (None until a step has ended)."""
        began, first_step, first_tokens = self._begin
        elapsed = self._now[0] - began
        done = self.step - first_step
        if done <= 0 or elapsed <= 0:
            return {"tokens_per_second": None, "elapsed_s": round(elapsed, 3), "remaining_s": None}
        return {"tokens_per_second": round((self._now[1] - first_tokens) / elapsed, 1),
                "elapsed_s": round(elapsed, 3),
                "remaining_s": round(elapsed / done * max(0, self.total - self.step), 3)}  # fmt: skip

    def line(self) -> str:
        figures = self.figures()
        loss = f"loss {self.loss:.3f}" if self.loss is not None else "loss -"
        parts = [f"step {self.step}/{self.total}", loss]
        rate = figures["tokens_per_second"]
        parts.append(f"{rate:,.0f} tok/s" if rate is not None else "- tok/s")
        parts.append(f"elapsed {clock(figures['elapsed_s'] or 0.0)}")
        left = figures["remaining_s"]
        parts.append(f"left {clock(left)}" if left is not None else "left -")
        return "  ".join(parts)

    def close(self) -> None:
        """End a terminal line (after the last step, or when training stops early)."""
        if self._open:
            self._emit("\n")
            self._open = False

    def _write(self) -> None:
        self._written, self._due = time.perf_counter(), False
        if self.terminal:
            self._emit("\r" + self.line() + "\x1b[K")
            self._open = True
        else:
            self._emit(self.line() + "\n")

    def _emit(self, text: str) -> None:
        if not self.show:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not stop the training
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
