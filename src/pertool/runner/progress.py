"""A progress bar on stderr (rich): done/total, rate, ETA, and the backend's retries so far
(read live from its `retries` / `last_retry_reason` attributes, so a run waiting on a flaky
server says why it is slow); silent when turned off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["backend_retries", "progress_bar", "retries_text"]


def backend_retries(backend: Any) -> tuple[int, str]:
    """(retries so far, the last one's reason); (0, "") for backends that never retry."""
    retries = getattr(backend, "retries", 0)
    reason = getattr(backend, "last_retry_reason", "")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        retries = 0
    return retries, reason if isinstance(reason, str) else ""


def retries_text(retries: int, reason: str = "") -> str:
    """'3 retries (last: HTTP 503 ...)', or '' before the first retry."""
    if retries <= 0:
        return ""
    text = f"{retries} retr{'y' if retries == 1 else 'ies'}"
    return f"{text} (last: {reason.split(chr(10))[0][:60]})" if reason else text


@contextmanager
def progress_bar(total: int, already: int, enabled: bool,
                 backend: Any = None) -> Iterator[Callable[[], None]]:  # fmt: skip
    """Yields `advance()`, to call once per finished sample."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,  # fmt: skip
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RetriesColumn(ProgressColumn):
        """Rendered at every refresh, so retries show while no sample finishes."""

        def render(self, task: Any) -> Text:
            return Text(retries_text(*backend_retries(backend)), style="yellow")

    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn(), RetriesColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("eval", total=total, completed=already, rate="")

        def advance() -> None:
            progress.advance(task)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:.1f}/s" if speed else "")

        yield advance
