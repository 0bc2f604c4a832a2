"""`pertool eval`: samples stream through render -> backend -> parse -> score.

Requests run concurrently (bounded by `max_concurrency`), sent in prefix-friendly order (see
`order`); each finished sample is appended to predictions.jsonl at once, each failed one to
errors.jsonl (a prompt too long for the model's context window with "kind": "context_overflow").
A resumed run skips what predictions.jsonl already holds and retries the failures, overflows
too: they cost no generation, and the server may have been restarted with a larger window.
Answers go through the response cache first, so a repeated or resumed run never pays twice for
the same request.

Any answer becomes a record or a per-sample error, never a crash: turning a completion into a
record (rendering native calls, parsing, encoding the line) is guarded, and a failure there is
written to errors.jsonl like a failed request. An answer is put into the cache only after its
record was written, so the cache never holds an answer that cannot be recorded (one found there,
from an older version, is dropped and asked again).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_serializer

from pertool import answerers
from pertool.benchmarks.views import ProfileView
from pertool.distributed import RayPool, RaySettings
from pertool.errors import BackendError, ContextOverflow, DataError
from pertool.fileio import jsonl_dumps
from pertool.kinds import all_kinds, check_settings, kind_of_samples, load_benchmark, view_samples
from pertool.kinds.score import check_compat, score
from pertool.modelcalls import CachedCalls, Unusable, Usage, open_cache
from pertool.models.base import Backend, Completion, Sampling
from pertool.models.registry import ModelOptions
from pertool.runner.fingerprint import FINGERPRINT_KEY, SCORED_FILES_KEY, benchmark_fingerprint
from pertool.runner.limit import limit_samples
from pertool.runner.order import Order, send_order
from pertool.runner.progress import backend_retries, progress_bar
from pertool.runner.rundir import (
    CONFIG,
    CONTEXT_OVERFLOW,
    ERRORS,
    METRICS,
    PREDICTIONS,
    SCORES,
    RunDir,
    append_line,
    check_record,
)
from pertool.runner.task import Task
from pertool.schema import Sample
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import ScoreReport
from pertool.urls import redact_url
from pertool.versions import __version__

__all__ = [
    "EvalConfig", "compat_sampling", "load_config", "run_eval", "select_samples", "with_legacy_defaults",
]  # fmt: skip

DEFAULT_SAMPLING = {"temperature": 0.0, "max_tokens": 512}


def compat_sampling(compat: str | None) -> dict[str, float]:
    """The generation settings a run defaults to: with a --compat mode, the public script's (the
    kind that declares the mode says them), else greedy with 512 new tokens."""
    if compat is not None:
        for kind in all_kinds():
            if compat in kind.compat_sampling:
                return dict(kind.compat_sampling[compat])
    return dict(DEFAULT_SAMPLING)


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
    # How --limit picks its samples. Run directories written before the seeded draw have no
    # such key and took the first N: `load_config` reads them so, and they re-score the same.
    limit_draw: Literal["stratified", "first"] = "stratified"
    max_concurrency: int = Field(8, ge=1)
    # The order requests are sent in; changes no result. Older run directories ran in file order.
    order: Order = "prefix"
    compat: str | None = None
    use_cache: bool = True
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    prices: dict[str, float] | None = None  # USD per million tokens: {"input": .., "output": ..}
    # Where the model runs: in this process, or on Ray replicas (pertool.distributed). Changes
    # no result, so a resume may change these, like max_concurrency.
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # None: a local Ray started for the run; "auto"; HOST:PORT
    replicas: int = Field(1, ge=1)
    replica_cpus: float | None = Field(None, ge=0)
    replica_gpus: float | None = Field(None, ge=0)
    pertool_version: str = __version__

    @field_serializer("options")
    def _without_credentials(self, options: dict[str, Any]) -> dict[str, Any]:
        """Written out (config.json) with --base-url's credentials masked; see pertool.urls."""
        if not options.get("base_url"):
            return options
        return {**options, "base_url": redact_url(options["base_url"])}

    def model_options(self) -> ModelOptions:
        return ModelOptions(**self.options)

    def ray_settings(self) -> RaySettings:
        return RaySettings(address=self.ray_address, replicas=self.replicas, replica_cpus=self.replica_cpus,
                           replica_gpus=self.replica_gpus)  # fmt: skip

    def task(self) -> Task:
        sampling = Sampling(temperature=self.temperature, max_tokens=self.max_tokens)
        return Task(tool_mode=self.tool_mode, chat_format=self.chat_format, sampling=sampling)


def _options_model() -> type[BaseModel]:
    """ModelOptions as a strict-keyed pydantic model, to check a config.json's `options`."""
    hints = get_type_hints(ModelOptions)
    spec: Any = {f.name: (hints[f.name], f.default) for f in fields(ModelOptions)}
    return create_model("ModelOptionsCheck", __config__=ConfigDict(extra="forbid"), **spec)


def load_config(run: RunDir) -> EvalConfig:
    """A run's config.json as an `EvalConfig`; a wrong type or an unknown key is one line
    naming the file and the field."""
    file = str(run.path / CONFIG)
    data = with_legacy_defaults(run.config())
    try:
        config = EvalConfig.model_validate(data)
        config.options = _options_model().model_validate(config.options).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        prefix = "options." if exc.title == "ModelOptionsCheck" else ""
        raise DataError(file, first["msg"], field=prefix + where) from None
    return config


def with_legacy_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A config.json from before a setting existed keeps the behaviour it was run with."""
    if "limit_draw" not in data:
        data = {**data, "limit_draw": "first"}
    if "order" not in data:
        data = {**data, "order": "file"}
    return data


def select_samples(config: EvalConfig) -> list[Sample]:
    """The samples a run evaluates: its benchmark, --limit (stratified, seeded), profile view.
    The same for the run, its resume, its report and compare."""
    samples = load_benchmark(config.benchmark, config.data_dir)
    if config.limit_draw == "first":
        samples = samples[: config.limit] if config.limit is not None else samples
    else:
        samples = limit_samples(samples, config.limit, config.seed)
    return view_samples(samples, config.profile_view)


async def run_eval(run: RunDir, config: EvalConfig, *, show_progress: bool = True) -> ScoreReport:
    samples = select_samples(config)
    kind = kind_of_samples(samples)
    # Settings the benchmark cannot use are refused before the model is asked anything.
    check_settings(kind, config.benchmark, tool_mode=config.tool_mode, chat_format=config.chat_format)
    check_compat(kind, config.compat)
    finished = run.finished(repair=True)
    pending = send_order([s for s in samples if s.id not in finished], config.order, config.seed)
    backend = create_backend(config, samples)
    cache = open_cache(backend, config.use_cache)
    try:
        with run.appender(PREDICTIONS) as out, run.appender(ERRORS, truncate=True) as errors, \
                progress_bar(len(samples), len(samples) - len(pending), show_progress, backend) as advance:
            calls = CachedCalls(backend, cache)  # bounded by the worker's gate, rendering included
            worker = _Worker(calls, config.task(), out, errors, finished, advance)
            await worker.run_all(pending, config.max_concurrency)
    finally:
        await backend.aclose()
        if cache is not None:
            cache.close()
        if isinstance(backend, RayPool):  # where the answers came from: the one line Ray adds
            print(backend.summary(), file=sys.stderr)
    return finish(run, config, samples, finished, retries=backend_retries(backend)[0],
                  context_window=getattr(backend, "context_window", None))  # fmt: skip


def create_backend(config: EvalConfig, samples: list[Sample]) -> Backend:
    """The run's model: built here, or (--executor ray) as replicas on Ray that the driver
    sends its requests to; the same identity, so the same cache entries, either way."""
    if config.executor == "ray":
        return RayPool(config.model, config.model_options(), samples, config.ray_settings())
    return answerers.create_model(config.model, config.model_options(), samples)


class _Worker:
    def __init__(self, calls: CachedCalls, task: Task, out: Any, errors: Any,
                 finished: dict[str, dict[str, Any]], advance: Any):  # fmt: skip
        self.calls, self.task = calls, task
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
            try:
                request = self.task.request(sample)
            except Exception as exc:  # noqa: BLE001 - one sample's prompt must not stop the run
                self._failed(sample, f"the prompt could not be built: {_describe(exc)}")
                return
            try:  # cached only once its record is written
                await self.calls.complete(request, keep=lambda completion: self._record(sample, completion))
            except Unusable as exc:
                self._failed(sample, f"the answer could not be recorded: {exc.problem}")
            except ContextOverflow as exc:  # the model's answer is not known: no answer, counted apart
                self._failed(sample, str(exc), {"kind": CONTEXT_OVERFLOW, **exc.details()})
            except BackendError as exc:
                if exc.fatal:
                    raise
                self._failed(sample, str(exc))

    def _record(self, sample: Sample, completion: Completion) -> str | None:
        """Write the sample's record; None when written, else why it could not be."""
        try:
            record = _record(sample, completion, self.task)
            line = jsonl_dumps(record)
        except Exception as exc:  # noqa: BLE001 - any answer: a per-sample error, never a crash
            return _describe(exc)
        self.out.write(line + "\n")
        self.out.flush()
        self.finished[sample.id] = record
        self.advance()
        return None

    def _failed(self, sample: Sample, error: str, more: dict[str, Any] | None = None) -> None:
        append_line(self.errors, {"id": sample.id, "error": error, **(more or {})})
        self.advance()


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n")[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _record(sample: Sample, completion: Completion, task: Task) -> dict[str, Any]:
    record: dict[str, Any] = {"id": sample.id, "output": task.output_text(sample, completion)}
    if task.tool_mode == "native":
        record["text"] = completion.text
        record["tool_calls"] = completion.tool_calls
    record.update(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                  latency_s=round(completion.latency_s, 4), cached=completion.cached)  # fmt: skip
    check_record(record, sample.id)  # what a reader will demand of the line
    return record


def finish(run: RunDir, config: EvalConfig, samples: list[Sample], finished: dict[str, dict[str, Any]],
           *, retries: int = 0, context_window: int | None = None) -> ScoreReport:  # fmt: skip
    """Score what the run directory holds and write scores.jsonl (each scored sample's record)
    and metrics.json (with the benchmark's fingerprint). Samples whose request failed
    (errors.jsonl) are `no_answer`: counted apart, left out of the metrics. Those whose prompt
    did not fit the model's context window are listed apart from the other failures:
    `context_overflow` (their number), `context_overflow_ids`, `context_window` (when known)."""
    outputs = {i: r.get("output") for i, r in finished.items()}
    errors = run.errors()
    overflows = {i: line for i, line in errors.items() if line.get("kind") == CONTEXT_OVERFLOW}
    report = score(samples, outputs, compat=config.compat, resamples=config.resamples, seed=config.seed,
                   no_answer=set(errors), context_overflow=set(overflows))  # fmt: skip
    metrics = report.to_json()
    usage = Usage.of_records(finished.values(), config.prices, retries=retries)
    metrics["usage"] = usage.eval_json(priced=bool(config.prices))
    metrics["failed"] = sorted(set(errors) - set(overflows))
    metrics["context_overflow_ids"] = sorted(report.context_overflow)
    metrics["context_window"] = context_window or _reported_window(overflows.values())
    metrics[FINGERPRINT_KEY] = benchmark_fingerprint(samples, config.compat)
    run.write_lines(SCORES, (s.to_json() for s in report.scored))  # before metrics.json, which completes it
    metrics[SCORED_FILES_KEY] = {name: run.digest(name) for name in (SCORES, PREDICTIONS)}
    run.write_json(METRICS, metrics)
    return report


def _reported_window(lines: Any) -> int | None:
    """The context window the overflow errors name, when they name exactly one."""
    windows = {line.get("context_window") for line in lines} - {None}
    if len(windows) == 1 and isinstance(window := next(iter(windows)), int):
        return window
    return None


def default_out_dir(model: str) -> Path:
    import time

    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model)[:60]
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
