"""Runs PTool's stages in order over a pipeline directory, each resumable on its own.

A stage is `async def run(ctx: StageContext) -> None`: it reads earlier stages' records from
`ctx.dir`, skips the keys it already wrote, calls the LLM through `ctx.llm`, and appends its
records with `ctx.write(name, record)`, which also saves the stage's counters to summary.json,
so a crash loses neither records nor accounting. A finished stage leaves a done marker and is
skipped on the next run; with the response cache, re-running a finished pipeline makes no call.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import BaseModel

from pertool.fileio import check_regular_file
from pertool.runner.rundir import append_line
from pertool.synth.llm import StageStats, SynthLLM
from pertool.synth.records import SynthConfig
from pertool.synth.store import PipelineDir

__all__ = ["STAGE_ORDER", "StageContext", "run_stages"]

# Tests set PERTOOL_SYNTH_CRASH_AFTER=<stage>:<n> to kill the process right after the n-th record
# of a stage (between records, so no request is in flight with --max-concurrency 1).
_CRASH_AT = os.environ.get("PERTOOL_SYNTH_CRASH_AFTER", "")
STAGE_ORDER = ("tools", "features", "users", "histories", "queries", "solutions", "verify", "dataset")


@dataclass
class StageContext:
    dir: PipelineDir
    config: SynthConfig
    llm: SynthLLM
    stage: str
    stats: StageStats = field(default_factory=StageStats)
    _files: dict[str, IO[str]] = field(default_factory=dict)
    _written: int = 0
    advance: Callable[[], None] = lambda: None  # the stage's progress bar

    @property
    def rng(self) -> random.Random:
        """A generator seeded by the config's seed and the stage (deterministic per stage)."""
        return random.Random(f"{self.config.seed}:{self.stage}")

    def write(self, name: str, record: BaseModel) -> None:
        """Append a record to `<name>.jsonl` (flushed at once) and save the counters."""
        if name not in self._files:
            check_regular_file(self.dir.path / f"{name}.jsonl")  # a FIFO would block the open
            self._files[name] = open(self.dir.path / f"{name}.jsonl", "a", encoding="utf-8")
        append_line(self._files[name], record.model_dump(mode="json"))
        self.save()
        self.advance()
        self._written += 1
        if _CRASH_AT == f"{self.stage}:{self._written}":
            os._exit(137)  # fault injection for the resume tests: die like kill -9, mid-stage

    def save(self) -> None:
        summary = self.dir.summary()
        summary[self.stage] = self.stats.to_json()
        self.dir.write_summary(summary)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


Stage = Callable[[StageContext], Awaitable[None]]


async def run_stages(directory: PipelineDir, config: SynthConfig, llm: SynthLLM,
                     stages: dict[str, Stage], only: list[str] | None = None,
                     show_progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the stages not yet done (or just `only`), in STAGE_ORDER; returns the summary."""
    directory.start(config)
    with _progress(show_progress) as add_bar:
        for name in STAGE_ORDER:
            if name not in stages or (only and name not in only) or directory.done(name):
                continue
            stats = StageStats.resumed(directory.summary().get(name, {}))
            ctx = StageContext(directory, config, llm, name, stats)
            ctx.advance = add_bar(name)
            try:
                await stages[name](ctx)
                ctx.save()
            finally:
                ctx.close()
            directory.mark_done(name)
    return directory.summary()


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], Callable[[], None]]]:
    """One bar per stage on stderr: records written, rate, elapsed time."""
    if not enabled:
        yield lambda name: lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description:<10}"), TextColumn("{task.completed} records"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True)) as progress:

        def add(name: str) -> Callable[[], None]:
            task = progress.add_task(name, total=None)
            return lambda: progress.advance(task)

        yield add
