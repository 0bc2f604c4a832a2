"""`vllm-batch/<path>`: batch inference on local GPUs through Ray Data's LLM processors.

Concurrent `complete` calls are collected into batches: at most `--batch-size` requests, and a
batch waits at most `BATCH_WAIT_S` for more once its first request came. Each batch becomes one
Ray Dataset (`ray.data.from_items`, a row per request) run through the processor that
`ray.data.llm.build_processor(vLLMEngineProcessorConfig(...))` builds; every output row carries
its request's index, so each caller's future gets its own `Completion` (text, token counts,
Hermes-style tool calls). Batches run one at a time: Ray Data starts the engine for each Dataset,
so a large `--batch-size` with `--max-concurrency` as large (hundreds) amortizes the start; for
many small calls, `vllm/` (a long-lived server) is the better fit. See docs/scaling.md.

Prompts are rendered and tokenized here, with the model's tokenizer, exactly as `hf/` does (its
chat template, tools included, then no special tokens added: the template already wrote them;
a raw prompt gets the tokenizer's own), so that one processor serves chat and raw requests: the
processor's chat-template, tokenize and detokenize stages are off, and the engine gets token
ids (`tokenized_prompt`; given text, vLLM would add a second BOS to templates that hold one) and
per-row sampling params. A row that fails in the engine (`should_continue_on_error`) is that
request's error alone; a prompt longer than the engine's window is a `ContextOverflow`.

`--vllm-args` become the engine's kwargs (`--max-model-len 4096` -> max_model_len=4096), except
`--data-parallel-size N`: N engines, Ray Data's `concurrency`. The kwargs are in the cache key
(dtype, quantization, window change answers); the number of engines is not. Needs vLLM (CUDA
wheels) and Ray; the tests run the same backend with a stand-in for the engine stage
(tests/stand_ins/).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from pertool.errors import BackendError, MissingDependency, SpecError
from pertool.models.base import Completion, Request, Sampling
from pertool.models.context_refusal import refusal_in_text
from pertool.models.ray_session import connect, disconnect, import_ray
from pertool.models.text_tool_calls import text_tool_calls

if TYPE_CHECKING:
    from pertool.models.registry import ModelOptions

__all__ = ["BATCH_WAIT_S", "BatchProcessorBackend", "create", "engine_kwargs", "postprocess", "preprocess",
           "vllm_processor"]  # fmt: skip

BATCH_WAIT_S = 0.2  # how long a batch waits for more requests once its first one came
BATCH_TIMEOUT_S = 1800.0  # one batch end to end, the engine's start (a model load) included
INDEX = "pertool_index"  # the column that brings each output row back to its request
Row = dict[str, Any]


@dataclass
class _Pending:
    row: dict[str, Any]
    request: Request
    future: asyncio.Future[Completion]


class BatchProcessorBackend:
    """Requests collected into batches, each batch a Ray Dataset through `make_processor()`'s
    processor (built once, on first use); see the module docstring. `render` turns a request
    into the engine's prompt token ids; `vllm_args`: the engine's flags (`engine_kwargs`), whose
    kwargs are part of `identity()`.
    `run_batch` (rows in, output rows out) replaces Ray Data and the processor altogether:
    for callers that run the engine some other way, and for tests of the batching alone."""

    name = "vllm-batch"

    def __init__(self, model: str, *, render: Callable[[Request], list[int]],
                 make_processor: Callable[[], Any], vllm_args: str = "",
                 batch_size: int = 64, batch_wait_s: float = BATCH_WAIT_S,
                 batch_timeout_s: float = BATCH_TIMEOUT_S, stop_ray: bool = False,
                 run_batch: Callable[[list[Row]], list[Row]] | None = None):  # fmt: skip
        self.model = model
        engine, self.engines = engine_kwargs(vllm_args)
        self.engine = dict(sorted(engine.items()))  # what changes answers; not how many engines
        self.batch_size = max(1, batch_size)
        self.batch_wait_s, self.batch_timeout_s = batch_wait_s, batch_timeout_s
        self.batches: list[int] = []  # the size of each batch run, for tests and logs
        self._render, self._make_processor = render, make_processor
        self._processor: Any = None
        self._run_batch = run_batch or self._through_processor
        self._stop_ray = stop_ray  # this backend started Ray: shut it down on close
        self._numbers = itertools.count()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken: str | None = None
        self._closed = False

    def identity(self) -> dict[str, Any]:
        return {"backend": "vllm-batch", "model": self.model, "engine": self.engine}

    async def complete(self, request: Request) -> Completion:
        if self._closed or self._broken:
            raise BackendError(f"vllm-batch/{self.model} is {'closed' if self._closed else self._broken}",
                               fatal=bool(self._broken))  # fmt: skip
        started = time.perf_counter()
        try:
            tokens = self._render(request)  # this request's own error, before it joins a batch
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - a template error is the request's, not the run's
            raise BackendError(f"vllm-batch/{self.model}: the prompt could not be rendered: {exc}") from None
        row = {INDEX: next(self._numbers), "tokenized_prompt": [int(t) for t in tokens],
               "sampling_params": sampling_params(request.sampling)}  # fmt: skip
        pending = _Pending(row, request, asyncio.get_running_loop().create_future())
        self._ensure_worker().put_nowait(pending)
        completion = await pending.future
        completion.latency_s = time.perf_counter() - started  # waiting for the batch included
        return completion

    async def aclose(self) -> None:
        self._closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        while self._queue is not None and not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(BackendError(f"vllm-batch/{self.model} was closed"))
        self._worker = self._queue = None
        disconnect(self._stop_ray)
        self._stop_ray = False

    # -- batching -------------------------------------------------------------------------------

    def _ensure_worker(self) -> asyncio.Queue[_Pending]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._worker is None or self._worker.done() or self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._work(self._queue))
        return self._queue

    async def _work(self, queue: asyncio.Queue[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            until = loop.time() + self.batch_wait_s
            while len(batch) < self.batch_size and (left := until - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(queue.get(), left))
                except asyncio.TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # callers that gave up
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Pending]) -> None:
        self.batches.append(len(batch))
        try:
            out = await asyncio.wait_for(asyncio.to_thread(self._run_batch, [p.row for p in batch]),
                                         self.batch_timeout_s)  # fmt: skip
            rows = {int(row[INDEX]): row for row in out if row.get(INDEX) is not None}
        except asyncio.TimeoutError:  # Ray Data cannot be cancelled from here: the backend stops
            self._broken = (f"stopped: a batch did not finish within {self.batch_timeout_s:g} s (does the "
                            "cluster have the GPUs the engine asks for? `ray status` says)")  # fmt: skip
            rows, error = {}, BackendError(f"vllm-batch/{self.model} {self._broken}", fatal=True)
        except Exception as exc:  # noqa: BLE001 - every waiting caller must hear of it
            rows, error = {}, BackendError(f"vllm-batch/{self.model}: the batch failed: {_first_line(exc)}")
        else:
            error = BackendError(f"vllm-batch/{self.model}: the processor returned no row for a request")
        for pending in batch:
            if pending.future.done():
                continue
            row = rows.get(pending.row[INDEX])
            if row is None:
                pending.future.set_exception(error)
            elif row.get("__inference_error__"):
                pending.future.set_exception(self._row_error(str(row["__inference_error__"])))
            else:
                pending.future.set_result(_completion(row, pending.request))

    def _row_error(self, text: str) -> BackendError:
        """A failed row's error: a prompt too long for the engine is a ContextOverflow (the run
        says so per sample, as for a server's refusal), anything else that request's error."""
        message = f"vllm-batch/{self.model}: {text.splitlines()[0][:300] if text else 'the engine failed'}"
        return refusal_in_text(message, text) or BackendError(message)

    def _through_processor(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import ray

        if self._processor is None:
            self._processor = self._make_processor()
        return list(self._processor(ray.data.from_items(rows)).take_all())


def sampling_params(sampling: Sampling) -> dict[str, Any]:
    """vLLM's SamplingParams fields, the same keys in every row (one Arrow schema per batch)."""
    top_p = 1.0 if sampling.top_p is None else sampling.top_p
    return {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens, "top_p": top_p,
            "stop": list(sampling.stop)}  # fmt: skip


def preprocess(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data's preprocess: the engine stage's input columns (token ids, sampling params)."""
    return {INDEX: row[INDEX], "tokenized_prompt": row["tokenized_prompt"],
            "sampling_params": row["sampling_params"]}  # fmt: skip


def postprocess(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data's postprocess: what a `Completion` needs from vLLM's output columns."""
    return {INDEX: row[INDEX], "text": row["generated_text"], "input_tokens": row["num_input_tokens"],
            "output_tokens": row["num_generated_tokens"]}  # fmt: skip


def _completion(row: dict[str, Any], request: Request) -> Completion:
    text = str(row.get("text") or "")
    cuts = [i for i in (text.find(stop) for stop in request.sampling.stop if stop) if i >= 0]
    if cuts:  # the engine stops there too; a cut here keeps the two in step
        text = text[: min(cuts)]
    calls = text_tool_calls(text) if request.tools else []
    return Completion(text=text, tool_calls=calls, input_tokens=int(row.get("input_tokens") or 0),
                      output_tokens=int(row.get("output_tokens") or 0))  # fmt: skip


def engine_kwargs(vllm_args: str) -> tuple[dict[str, Any], int]:
    """`--vllm-args` as the engine's kwargs, and the number of engines (--data-parallel-size)."""
    try:
        words = shlex.split(vllm_args)
    except ValueError as exc:
        raise SpecError(f"--vllm-args {vllm_args!r}: {exc}") from None
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or len(word) == 2:
            raise SpecError(f"--vllm-args: expected --flag [value], found {word!r}")
        key, _, value = word[2:].partition("=")
        if not value and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value, i = words[i + 1], i + 1
        kwargs[key.replace("-", "_")] = _value(value) if value else True
        i += 1
    engines = kwargs.pop("data_parallel_size", 1)
    if not isinstance(engines, int) or isinstance(engines, bool) or engines < 1:
        raise SpecError(f"--vllm-args: --data-parallel-size must be a number of engines, not {engines!r}")
    return kwargs, engines


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def vllm_processor(model: str, options: ModelOptions) -> Any:
    """The real processor: vLLM's engine stage alone, fed token ids (see the module docstring)."""
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    kwargs, engines = engine_kwargs(options.vllm_args)
    config = vLLMEngineProcessorConfig(model_source=model, engine_kwargs=kwargs,
                                       batch_size=options.batch_size, concurrency=engines,
                                       should_continue_on_error=True,
                                       chat_template_stage=False, tokenize_stage=False,
                                       detokenize_stage=False)  # fmt: skip
    return build_processor(config, preprocess=preprocess, postprocess=postprocess)


def prompt_renderer(model: str) -> Callable[[Request], list[int]]:
    """Requests -> prompt token ids with the model's own tokenizer, as hf/ encodes them (chat
    template with tools, no special tokens added to it; a raw prompt with the tokenizer's own)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingDependency("the vllm-batch backend", "hf") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(os.path.expanduser(model))
    except (OSError, ValueError) as exc:
        raise SpecError(f"vllm-batch/{model}: cannot load its tokenizer: {_first_line(exc)}") from None

    def render(request: Request) -> list[int]:
        if request.messages:
            if not tokenizer.chat_template:
                raise BackendError(f"vllm-batch/{model}: the tokenizer has no chat template; "
                                   "use a raw prompt format instead")  # fmt: skip
            text = tokenizer.apply_chat_template(list(request.messages), tools=list(request.tools) or None,
                                                 add_generation_prompt=True, tokenize=False)  # fmt: skip
            # The template already wrote any BOS/special tokens as text.
            return list(tokenizer(str(text), add_special_tokens=False)["input_ids"])
        if request.prompt is None:
            raise BackendError("a request needs messages or a prompt")
        return list(tokenizer(request.prompt)["input_ids"])

    return render


def create(rest: str, options: ModelOptions) -> BatchProcessorBackend:
    """Registry factory for `vllm-batch/<path or Hugging Face id>`."""
    if options.adapter:
        raise SpecError(f"vllm-batch/{rest} does not load adapters (--adapter {options.adapter}): "
                        "use vllm/ with --adapter, or a merged checkpoint")  # fmt: skip
    if find_spec("vllm") is None:  # CUDA wheels: refused before Ray starts or a tokenizer loads
        raise SpecError(f"vllm-batch/{rest} needs vLLM, which is not installed: pip install vllm (CUDA "
                        "wheels; on a machine with a GPU), and pertool's extras `ray` and `hf`")  # fmt: skip
    engine_kwargs(options.vllm_args)  # a bad flag is said now, not in the first batch
    what = "the vllm-batch backend"
    # RAY_ADDRESS's cluster, else a new local Ray; a process that already is a Ray driver or
    # worker (an eval --executor ray replica) keeps its own (started False)
    started = connect(os.environ.get("RAY_ADDRESS") or None, what)
    try:
        if not import_ray(what).cluster_resources().get("GPU", 0) >= 1:
            raise SpecError(f"vllm-batch/{rest}: the Ray cluster has no GPU for the vLLM engine "
                            "(set RAY_ADDRESS to a cluster that has one)")  # fmt: skip
        render = prompt_renderer(rest)
    except BaseException:
        disconnect(started)
        raise
    return BatchProcessorBackend(rest, render=render, make_processor=lambda: vllm_processor(rest, options),
                                 vllm_args=options.vllm_args, batch_size=options.batch_size,
                                 stop_ray=started)  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
