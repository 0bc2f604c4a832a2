"""`hf/smollm2-135m`: the bundled real model (SmolLM2-135M-Instruct) through the hf backend.

Real weights, real tokenizer, real chat template: one model load for the module, a handful of
samples with short answers (builtin-mini's prompts: about 1,000 tokens), and two
`pertool eval` subprocesses for the determinism of greedy decoding across runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.real_models import require_packages

require_packages("torch", "transformers")  # skips without them; fails under CI=1

from pertool.kinds import load_benchmark  # noqa: E402
from pertool.models.base import Completion, Request, Sampling  # noqa: E402
from pertool.models.bundled import IDENTITY_KEYS, MARKER  # noqa: E402
from pertool.models.hf import HFBackend  # noqa: E402
from pertool.models.registry import ModelOptions, create_backend  # noqa: E402
from pertool.runner.task import Task  # noqa: E402
from pertool.schema import Sample  # noqa: E402
from support.cli import run_pertool  # noqa: E402
from support.torch_threads import ONE_THREAD_ENV, one_torch_thread  # noqa: E402

MAX_TOKENS = 16
TASK = Task(sampling=Sampling(temperature=0.0, max_tokens=MAX_TOKENS))
# SmolLM2's template (chat_template.jinja) puts this system turn first when the messages have none.
DEFAULT_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


# One thread per model (support/torch_threads.py): a second one mostly spins on shared cores.
one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def smol(smollm2_dir: Path) -> Iterator[HFBackend]:
    backend = create_backend("hf/smollm2-135m", ModelOptions(batch_size=4))
    assert isinstance(backend, HFBackend)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def answer(backend: HFBackend, samples: list[Sample]) -> list[Completion]:
    """One batch: the samples' requests sent together, as the runner does."""

    async def go() -> list[Completion]:
        return list(await asyncio.gather(*(backend.complete(TASK.request(s)) for s in samples)))

    return asyncio.run(go())


def assert_real_answers(backend: HFBackend, samples: list[Sample], completions: list[Completion]) -> None:
    for sample, completion in zip(samples, completions):
        assert completion.text.strip(), (sample.id, completion)
        assert 0 < completion.output_tokens <= MAX_TOKENS, (sample.id, completion.output_tokens)
        assert completion.input_tokens == len(backend.input_ids(TASK.request(sample)))
        TASK.prediction(sample, completion)  # the parser takes any real answer (a call or a parse error)


def test_the_name_is_the_identity_and_the_checkpoint_keys_the_cache(smol: HFBackend, smollm2_dir: Path) -> None:
    marker = json.loads((smollm2_dir / MARKER).read_text())
    identity = smol.identity()
    assert identity["backend"] == "hf" and identity["model"] == "smollm2-135m" and identity["adapter"] is None
    assert identity["checkpoint"] == {key: marker[key] for key in IDENTITY_KEYS if key in marker}
    assert identity["checkpoint"]["gguf_bytes"] > 0
    assert str(smollm2_dir) not in json.dumps(identity)  # the same weights elsewhere share the cache


def test_the_chat_template_is_applied(smol: HFBackend, tokenizer: Any, smollm2_dir: Path) -> None:
    template = (smollm2_dir / "chat_template.jinja").read_text()
    assert DEFAULT_SYSTEM in template.replace("' }}", "").replace("{{ '", "")
    # With a system turn (PTBench-style prompts): it opens the prompt, the generation prompt ends it.
    messages = [{"role": "system", "content": "You pick tools."}, {"role": "user", "content": "Book a cab."}]
    ids = smol.input_ids(Request(messages=tuple(messages)))
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]
    assert ids == list(expected)
    text = "<|im_start|>system\nYou pick tools.<|im_end|>\n<|im_start|>user\nBook a cab.<|im_end|>\n<|im_start|>assistant\n"
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")  # one special token, not "<", "|", ...
    # Without one (ToolSpectrum's single user message): the template's own system turn comes first.
    ts = smol.input_ids(Request(messages=({"role": "user", "content": "hi"},)))
    head = tokenizer(DEFAULT_SYSTEM, add_special_tokens=False)["input_ids"]
    assert ts[: len(head)] == head
    assert tokenizer.decode(ts) == DEFAULT_SYSTEM + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.slow  # prompts of about 2,100 and 1,000 tokens: about 15 s of CPU
def test_real_answers_on_built_in_and_toolspectrum_samples(smol: HFBackend, tokenizer: Any,
                                                             toolspectrum_dir: Path) -> None:  # fmt: skip
    # The built-in generator's compact setting: prompts of about 1,000 tokens (the default's
    # 5,000 cost half a minute each on 2 cores; the same prompt code renders both).
    builtin = load_benchmark("builtin-mini")[:2]
    persona = [s for s in load_benchmark("toolspectrum", toolspectrum_dir) if s.id.startswith("persona:")][:2]
    assert len(builtin) == 2 and len(persona) == 2
    for samples in (persona, builtin):  # apart: a batch pads to its longest prompt
        completions = answer(smol, samples)
        assert_real_answers(smol, samples, completions)
    # ToolSpectrum's prompt is one user turn: the template's system turn comes first.
    assert tokenizer.decode(smol.input_ids(TASK.request(persona[0]))).startswith(DEFAULT_SYSTEM + "<|im_start|>user\n")


@pytest.mark.slow  # two `pertool eval` processes, each loading the model
def test_greedy_answers_are_identical_across_two_runs(smollm2_dir: Path, tmp_path: Path) -> None:
    from support.real_models import models_env

    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        run_pertool("eval", "--benchmark", "example", "--limit", "2", "--model", "hf/smollm2-135m",
                    "--max-tokens", str(MAX_TOKENS), "--no-cache", "--resamples", "0", "--no-progress",
                    "--out", out, env={**models_env(), **ONE_THREAD_ENV}, timeout=300, check=True)  # fmt: skip
        records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        assert json.loads((out / "config.json").read_text())["model"] == "hf/smollm2-135m"
        runs.append(sorted(records, key=lambda r: r["id"]))
    first, second = runs
    assert len(first) == 2 and not any(r.get("cached") for r in first + second)
    for record in first:  # real answers: text and tokens
        assert record["output"].strip() and 0 < record["output_tokens"] <= MAX_TOKENS, record
    assert [(r["id"], r["output"], r["output_tokens"]) for r in first] == [
        (r["id"], r["output"], r["output_tokens"]) for r in second
    ]
