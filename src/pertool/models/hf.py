"""`hf/<path>`: a local Transformers causal LM, optionally with a peft LoRA adapter (`--adapter`).

Concurrent `complete` calls are queued; one worker takes up to `batch_size` of them at a time
and runs a single left-padded `model.generate` in a thread, so the runner's concurrency becomes
batches while the event loop stays free. Requests in a batch share one decoding mode (greedy
when temperature == 0, sampling otherwise); each is cut to its own `max_tokens`, at the first
end-of-turn token and at its stop strings. Settings a `Sampling` does not name (top_k,
repetition penalty, end tokens) come from the model's generation_config, as vLLM does. A prompt
that does not fit the model's `context_window` with its max_tokens is a `ContextOverflow`,
refused before it joins a batch.

CUDA when available (bf16 where supported, else fp16), float32 on CPU. Needs the `hf` extra.
"""

from __future__ import annotations

import asyncio
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.errors import BackendError, ContextOverflow, MissingDependency, SpecError
from pertool.models.base import Completion, Request
from pertool.models.text_tool_calls import text_tool_calls
from pertool.models.text_tool_calls import text_tool_calls as _tool_calls  # noqa: F401 - its older name

try:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("the hf backend", "hf") from exc

if TYPE_CHECKING:
    from pertool.models.registry import ModelOptions

__all__ = ["HFBackend", "create"]


@dataclass
class _Job:
    input_ids: list[int]
    request: Request
    future: asyncio.Future[Completion]


class HFBackend:
    """A Transformers model answering requests in batches; see the module docstring."""

    name = "hf"
    checkpoint: dict[str, Any] | None = None  # a bundled model's origin (bundled.checkpoint_identity)

    def __init__(self, path: str, *, adapter: str | None = None, batch_size: int = 8):
        self.model = path
        self.adapter = adapter
        self.batch_size = max(1, batch_size)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer, self._lm = _load(path, adapter, self.device)
        self._eos = _end_tokens(self._lm, self._tokenizer)
        # Tokens the model can attend to, prompt and answer together (None: no known limit).
        self.context_window: int | None = _context_window(self._lm, self._tokenizer)
        pad = self._tokenizer.pad_token_id
        self._pad: int = pad if pad is not None else min(self._eos)
        # Queue and worker belong to one event loop; both are made again if the loop changes.
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"backend": "hf", "model": self.model, "adapter": self.adapter}
        if self.checkpoint is not None:
            identity["checkpoint"] = self.checkpoint
        return identity

    def input_ids(self, request: Request) -> list[int]:
        """The token ids the model receives for `request` (its chat template applied)."""
        return self._encode(request)

    async def complete(self, request: Request) -> Completion:
        if self._closed:
            raise BackendError(f"hf/{self.model} is closed")
        started = time.perf_counter()
        # Rendering errors (no chat template, bad messages) belong to this request alone, and so
        # does a prompt too long for the window: refused here, before it can join a batch.
        input_ids = self._encode(request)
        self._check_fits(len(input_ids), request.sampling.max_tokens)
        job = _Job(input_ids, request, asyncio.get_running_loop().create_future())
        self._ensure_worker().put_nowait(job)
        completion = await job.future
        completion.latency_s = time.perf_counter() - started  # queueing included, as for a server
        return completion

    async def aclose(self) -> None:
        self._closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(BackendError(f"hf/{self.model} was closed"))
        self._worker = self._queue = None
        if self.device.type == "cuda":
            del self._lm
            torch.cuda.empty_cache()

    # -- requests to token ids ------------------------------------------------------------------

    def _encode(self, request: Request) -> list[int]:
        tok = self._tokenizer
        if request.messages:
            if not tok.chat_template:
                raise BackendError(f"hf/{self.model}: the tokenizer has no chat template; "
                                   "use a raw prompt format instead")  # fmt: skip
            try:
                text = tok.apply_chat_template(list(request.messages), tools=list(request.tools) or None,
                                               add_generation_prompt=True, tokenize=False)  # fmt: skip
            except Exception as exc:  # the template's own checks (role order, ...) raise anything
                raise BackendError(f"hf/{self.model}: the chat template refused the messages: {exc}") from exc
            # The template already wrote any BOS/special tokens as text.
            return list(tok(text, add_special_tokens=False)["input_ids"])
        if request.prompt is None:
            raise BackendError("a request needs messages or a prompt")
        return list(tok(request.prompt)["input_ids"])

    def _check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        """Refuse a prompt that does not fit the window with its max_tokens: never a silent cut
        (the model would see a different prompt), never a crash in the middle of a batch."""
        window = self.context_window
        if window is not None and prompt_tokens + max_tokens > window:
            raise ContextOverflow(
                f"hf/{self.model}: the prompt ({prompt_tokens} tokens) and max_tokens ({max_tokens}) "
                f"exceed the model's context window of {window} tokens",
                prompt_tokens=prompt_tokens, max_tokens=max_tokens, window=window,
            )  # fmt: skip

    # -- batching -------------------------------------------------------------------------------

    def _ensure_worker(self) -> asyncio.Queue[_Job]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._worker is None or self._worker.done() or self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._work(self._queue))
        return self._queue

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            await asyncio.sleep(0)  # let requests made in the same tick join this batch
            while len(jobs) < self.batch_size and not queue.empty():
                jobs.append(queue.get_nowait())
            jobs = [job for job in jobs if not job.future.done()]  # callers that gave up
            groups: dict[tuple[float, float | None], list[_Job]] = {}
            for job in jobs:  # one generate() call per decoding mode
                s = job.request.sampling
                key = (0.0, None) if s.temperature <= 0 else (s.temperature, s.top_p)
                groups.setdefault(key, []).append(job)
            for group in groups.values():
                try:
                    results = await asyncio.to_thread(self._generate, group)
                except Exception as exc:  # every waiting caller must hear of it
                    error = BackendError(f"hf/{self.model}: generation failed: {exc!r}")
                    results = [error] * len(group)
                for job, result in zip(group, results):
                    if job.future.done():
                        continue
                    if isinstance(result, BaseException):
                        job.future.set_exception(result)
                    else:
                        job.future.set_result(result)

    def _generate(self, jobs: list[_Job]) -> list[Completion | BaseException]:
        width = max(len(job.input_ids) for job in jobs)
        ids = torch.full((len(jobs), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for row, job in enumerate(jobs):  # left padding: every prompt ends where generation starts
            ids[row, width - len(job.input_ids) :] = torch.tensor(job.input_ids, dtype=torch.long)
            mask[row, width - len(job.input_ids) :] = 1
        sampling = jobs[0].request.sampling
        kwargs: dict[str, Any] = {"do_sample": sampling.temperature > 0}
        if sampling.temperature > 0:
            kwargs["temperature"] = sampling.temperature
            if sampling.top_p is not None:
                kwargs["top_p"] = sampling.top_p
        max_new = max(job.request.sampling.max_tokens for job in jobs)
        with torch.inference_mode():
            out = self._lm.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                    max_new_tokens=max_new, pad_token_id=self._pad,
                                    eos_token_id=sorted(self._eos), **kwargs)  # fmt: skip
        results: list[Completion | BaseException] = []
        for row, job in enumerate(jobs):
            results.append(self._completion(job, out[row, width:].tolist()))
        return results

    def _completion(self, job: _Job, generated: list[int]) -> Completion:
        sampling = job.request.sampling
        tokens = generated[: sampling.max_tokens]
        end = next((i for i, t in enumerate(tokens) if t in self._eos), None)
        if end is not None:  # the end token counts as output (the model produced it), not as text
            tokens, content = tokens[: end + 1], tokens[:end]
        else:
            content = tokens
        text = self._tokenizer.decode(content, skip_special_tokens=True)
        cuts = [i for i in (text.find(stop) for stop in sampling.stop if stop) if i >= 0]
        if cuts:
            text = text[: min(cuts)]
        calls = text_tool_calls(text) if job.request.tools else []
        return Completion(text=text, tool_calls=calls, input_tokens=len(job.input_ids),
                          output_tokens=len(tokens))  # fmt: skip


def _load(path: str, adapter: str | None, device: Any) -> tuple[Any, Any]:
    """The tokenizer and the model (with the adapter applied), on `device`, in eval mode."""
    where = Path(path).expanduser()
    if not where.is_dir():
        raise SpecError(f"hf/{path}: no model directory at {where} (give a saved Transformers model's path)")
    if adapter is not None and not Path(adapter).expanduser().is_dir():
        raise SpecError(f"--adapter {adapter}: no adapter directory at {Path(adapter).expanduser()}")
    dtype = torch.float32
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model: Any = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise SpecError(f"hf/{path}: cannot load a causal LM from {where}: {exc}") from exc
    if adapter is not None:
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise MissingDependency("--adapter with the hf backend", "hf") from exc
        with warnings.catch_warnings():
            # peft 0.21 reads `is_gradient_checkpointing`, deprecated in transformers 5.x.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            try:
                model = PeftModel.from_pretrained(model, Path(adapter).expanduser())
            except (OSError, ValueError) as exc:
                raise SpecError(f"--adapter {adapter}: cannot load a peft adapter: {exc}") from exc
    return tokenizer, model.to(device).eval()


def _context_window(model: Any, tokenizer: Any) -> int | None:
    """The model's trained length (config.max_position_embeddings), else the tokenizer's
    model_max_length when it is a real limit (Transformers writes 1e30 for "none")."""
    for value in (getattr(getattr(model, "config", None), "max_position_embeddings", None),
                  getattr(tokenizer, "model_max_length", None)):  # fmt: skip
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**8:
            return value
    return None


def _end_tokens(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end an answer: the generation config's, plus the tokenizer's end of turn."""
    configured = model.generation_config.eos_token_id
    ends = set(configured if isinstance(configured, list) else [configured])
    ends.add(tokenizer.eos_token_id)
    ends.discard(None)
    if not ends:
        raise SpecError("the model defines no end-of-sequence token (generation_config or tokenizer)")
    return ends


def create(rest: str, options: ModelOptions) -> HFBackend:
    """Registry factory for `hf/<path>` or `hf/<bundled name>` (prepared on first use): uses
    `options.adapter` and `options.batch_size`."""
    from pertool.models import bundled

    path = bundled.resolve_hf_path(rest, report=lambda line: print(line, file=sys.stderr, flush=True))
    backend = HFBackend(path, adapter=options.adapter, batch_size=options.batch_size)
    if path != rest:  # a bundled name: runs record the name as typed, the cache what it was made from
        backend.model, backend.checkpoint = rest, bundled.checkpoint_identity(Path(path))
    return backend
