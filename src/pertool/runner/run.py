"""`pertool eval`: samples stream through render -> backend -> parse -> score.

Requests run concurrently (bounded by `max_concurrency`); each finished sample is appended to
predictions.jsonl at once, each failed one to errors.jsonl. A resumed run skips what
predictions.jsonl already holds and retries the failures. Answers go through the response
cache first, so a repeated or resumed run never pays twice for the same request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pertool import __version__
from pertool.benchmarks.registry import load_benchmark
from pertool.benchmarks.views import ProfileView, apply_profile_view
from pertool.errors import PertoolError
from pertool.models.base import Backend, BackendError, Completion, Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.runner.cache import ResponseCache, cache_key
from pertool.runner.progress import progress_bar
from pertool.runner.rundir import ERRORS, METRICS, PREDICTIONS, RunDir, append_line
from pertool.runner.task import Task
from pertool.schema import Sample
from pertool.scoring.api import score
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import ScoreReport
from pertool.urls import redact_url

__all__ = ["EvalConfig", "run_eval", "OFFICIAL_SAMPLING"]

# The public PTBench scripts' generation settings, used with --compat ptbench-official.
OFFICIAL_SAMPLING = {"temperature": 0.1, "max_tokens": 128}


class EvalConfig(BaseModel):
    """Everything needed to run (or resume) an evaluation; saved as config.json. No secrets:
    only the NAME of the environment variable that holds a key."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    model: str
    options: dict[str, Any] = Field(default_factory=lambda: asdict(ModelOptions()))
    tool_mode: Literal["text", "native"] = "text"
    profile_view: ProfileView = "all"
    data_dir: str | None = None  # ToolSpectrum's data directory, when not the default
    chat_format: str | None = None
    temperature: float = 0.0
    max_tokens: int = Field(512, ge=1)
    limit: int | None = Field(None, ge=1)
    max_concurrency: int = Field(8, ge=1)
    compat: str | None = None
    use_cache: bool = True
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    prices: dict[str, float] | None = None  # USD per million tokens: {"input": .., "output": ..}
    pertool_version: str = __version__

    @field_serializer("options")
    def _without_credentials(self, options: dict[str, Any]) -> dict[str, Any]:
        """Written out (config.json) with --base-url's credentials masked; see pertool.urls."""
        if not options.get("base_url"):
            return options
        return {**options, "base_url": redact_url(options["base_url"])}

    def model_options(self) -> ModelOptions:
        return ModelOptions(**self.options)

    def task(self) -> Task:
        sampling = Sampling(temperature=self.temperature, max_tokens=self.max_tokens)
        return Task(tool_mode=self.tool_mode, chat_format=self.chat_format, sampling=sampling)


async def run_eval(run: RunDir, config: EvalConfig, *, show_progress: bool = True) -> ScoreReport:
    samples = load_benchmark(config.benchmark, config.data_dir)
    if config.limit is not None:
        samples = samples[: config.limit]
    samples = apply_profile_view(samples, config.profile_view)
    if config.tool_mode == "native" and any(s.benchmark == "toolspectrum" for s in samples):
        raise PertoolError("--tool-mode native is for PTBench-shaped benchmarks; ToolSpectrum's "
                           "answer is its JSON object (text mode)")  # fmt: skip
    finished = run.finished()
    pending = [s for s in samples if s.id not in finished]
    backend = create_backend(config.model, config.model_options(), samples)
    cache = ResponseCache() if config.use_cache and getattr(backend, "cacheable", True) else None
    try:
        with run.appender(PREDICTIONS) as out, run.appender(ERRORS, truncate=True) as errors, \
                progress_bar(len(samples), len(samples) - len(pending), show_progress) as advance:
            worker = _Worker(backend, config.task(), cache, out, errors, finished, advance)
            await worker.run_all(pending, config.max_concurrency)
    finally:
        await backend.aclose()
        if cache is not None:
            cache.close()
    return finish(run, config, samples, finished)


class _Worker:
    def __init__(self, backend: Backend, task: Task, cache: ResponseCache | None, out: Any,
                 errors: Any, finished: dict[str, dict[str, Any]], advance: Any):  # fmt: skip
        self.backend, self.task, self.cache = backend, task, cache
        self.out, self.errors, self.finished, self.advance = out, errors, finished, advance

    async def run_all(self, samples: list[Sample], max_concurrency: int) -> None:
        gate = asyncio.Semaphore(max(1, max_concurrency))
        tasks = [asyncio.create_task(self.one(sample, gate)) for sample in samples]
        try:
            await asyncio.gather(*tasks)
        finally:  # on Ctrl-C or a fatal error, stop the others before closing files
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def one(self, sample: Sample, gate: asyncio.Semaphore) -> None:
        async with gate:  # render inside the gate: 1,000 prompts up front would stall the loop
            request = self.task.request(sample)
            key = cache_key(self.backend.identity(), request) if self.cache else ""
            completion = self.cache.get(key) if self.cache else None
            if completion is None:
                try:
                    completion = await self.backend.complete(request)
                except BackendError as exc:
                    if exc.fatal:
                        raise
                    append_line(self.errors, {"id": sample.id, "error": str(exc)})
                    self.advance()
                    return
                if self.cache:
                    self.cache.put(key, completion)
        record = _record(sample, completion, self.task)
        append_line(self.out, record)
        self.finished[sample.id] = record
        self.advance()


def _record(sample: Sample, completion: Completion, task: Task) -> dict[str, Any]:
    record: dict[str, Any] = {"id": sample.id, "output": task.output_text(sample, completion)}
    if task.tool_mode == "native":
        record["text"] = completion.text
        record["tool_calls"] = completion.tool_calls
    record.update(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                  latency_s=round(completion.latency_s, 4), cached=completion.cached)  # fmt: skip
    return record


def finish(run: RunDir, config: EvalConfig, samples: list[Sample],
           finished: dict[str, dict[str, Any]]) -> ScoreReport:  # fmt: skip
    """Score what the run directory holds and write metrics.json."""
    outputs = {i: r.get("output") for i, r in finished.items()}
    report = score(samples, outputs, compat=config.compat, resamples=config.resamples, seed=config.seed)
    metrics = report.to_json()
    metrics["usage"] = _usage(finished.values(), config.prices)
    metrics["failed"] = sorted(_failed_ids(run))
    run.write_json(METRICS, metrics)
    return report


def _usage(records: Any, prices: dict[str, float] | None) -> dict[str, Any]:
    records = list(records)
    usage: dict[str, Any] = {
        "input_tokens": sum(int(r.get("input_tokens", 0)) for r in records),
        "output_tokens": sum(int(r.get("output_tokens", 0)) for r in records),
        "requests": sum(not r.get("cached") for r in records),
        "cached": sum(bool(r.get("cached")) for r in records),
    }
    if prices:
        usage["cost_usd"] = round(usage["input_tokens"] / 1e6 * prices.get("input", 0.0)
                                  + usage["output_tokens"] / 1e6 * prices.get("output", 0.0), 6)  # fmt: skip
    return usage


def _failed_ids(run: RunDir) -> set[str]:
    file = run.path / ERRORS
    if not file.exists():
        return set()
    ids = set()
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a torn line from a killed run: its sample is retried anyway
    return ids


def default_out_dir(model: str) -> Path:
    import time

    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model)[:60]
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
