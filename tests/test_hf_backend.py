"""The hf backend on a tiny random Qwen2 model built offline (pertool.training.tiny_model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from pertool.errors import (
    BackendError,
    SpecError,  # noqa: E402
)
from pertool.models.base import Backend, Completion, Request, Sampling  # noqa: E402
from pertool.models.hf import _tool_calls  # noqa: E402
from pertool.models.registry import ModelOptions, create_backend  # noqa: E402
from pertool.training.tiny_model import build_tiny_adapter, build_tiny_model  # noqa: E402

GREEDY = Sampling(temperature=0.0, max_tokens=8)
QUERIES = ["Book a train to Riverton", "Order 2 A4 paper", "Find a hotel", "Reserve a table for 6", "hi", "Search flights to Capital City tomorrow morning"]  # fmt: skip


def chat(query: str, sampling: Sampling = GREEDY) -> Request:
    messages = (
        {"role": "system", "content": "You are given a user profile."},
        {"role": "user", "content": query},
    )
    return Request(messages=messages, sampling=sampling)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    return model, build_tiny_adapter(model, root / "adapter")


def backend(path: Path, **options: object) -> Backend:
    return create_backend("hf/" + str(path), ModelOptions(**options))  # type: ignore[arg-type]


def test_concurrent_requests_are_batched(tiny: tuple[Path, Path]) -> None:
    hf = backend(tiny[0], batch_size=4)
    batches: list[int] = []
    generate = hf._generate  # type: ignore[attr-defined]
    hf._generate = lambda jobs: batches.append(len(jobs)) or generate(jobs)  # type: ignore[attr-defined]
    requests = [chat(q) for q in QUERIES[:4]] + [Request(prompt=q, sampling=GREEDY) for q in QUERIES[4:]]

    async def go() -> list[Completion]:
        try:
            return await asyncio.gather(*(hf.complete(r) for r in requests))
        finally:
            await hf.aclose()

    completions = asyncio.run(go())
    assert isinstance(hf, Backend)
    assert hf.identity() == {"backend": "hf", "model": str(tiny[0]), "adapter": None}
    assert batches == [4, 2]
    for completion in completions:
        assert isinstance(completion, Completion) and isinstance(completion.text, str)
        assert 1 <= completion.output_tokens <= GREEDY.max_tokens
        assert completion.input_tokens > 0 and completion.latency_s > 0


def test_greedy_is_deterministic_and_batching_changes_nothing(tiny: tuple[Path, Path]) -> None:
    hf = backend(tiny[0], batch_size=4)
    requests = [chat(q) for q in QUERIES[:4]]

    async def go() -> tuple[list[Completion], list[Completion], list[Completion]]:
        batched = await asyncio.gather(*(hf.complete(r) for r in requests))
        again = await asyncio.gather(*(hf.complete(r) for r in requests))
        alone = [await hf.complete(r) for r in requests]
        await hf.aclose()
        return batched, again, alone

    batched, again, alone = asyncio.run(go())
    assert [c.text for c in batched] == [c.text for c in again] == [c.text for c in alone]
    assert [c.output_tokens for c in batched] == [c.output_tokens for c in alone]
    assert [c.input_tokens for c in batched] == [c.input_tokens for c in alone]


def test_max_tokens_stop_strings_and_sampling(tiny: tuple[Path, Path]) -> None:
    hf = backend(tiny[0], batch_size=8)
    long = Sampling(max_tokens=16)

    async def go() -> None:
        full, short, hot = await asyncio.gather(
            hf.complete(chat(QUERIES[0], long)),
            hf.complete(chat(QUERIES[0], Sampling(max_tokens=3))),  # batched with a longer one
            hf.complete(chat(QUERIES[0], Sampling(temperature=1.0, top_p=0.9, max_tokens=5))),
        )
        # a cut through a multi-byte character decodes to U+FFFD, so compare what is whole
        assert short.output_tokens <= 3 and full.text.startswith(short.text.rstrip("\ufffd"))
        assert 1 <= hot.output_tokens <= 5
        if len(full.text) >= 2:  # a stop string cuts the text where it first occurs
            stop = full.text[1]
            cut = await hf.complete(chat(QUERIES[0], Sampling(max_tokens=16, stop=(stop,))))
            assert cut.text == full.text[: full.text.index(stop)]
        with pytest.raises(BackendError, match="messages or a prompt"):
            await hf.complete(Request())
        await hf.aclose()
        with pytest.raises(BackendError, match="closed"):
            await hf.complete(chat(QUERIES[0]))

    asyncio.run(go())


def test_tools_reach_the_chat_template_and_tool_calls_parse(tiny: tuple[Path, Path]) -> None:
    hf = backend(tiny[0])
    tool = {"type": "function", "function": {"name": "bookTicket", "parameters": {"type": "object"}}}
    with_tools = Request(messages=chat(QUERIES[0]).messages, tools=(tool,), sampling=GREEDY)
    assert len(hf._encode(with_tools)) > len(hf._encode(chat(QUERIES[0])))  # type: ignore[attr-defined]
    completion = asyncio.run(hf.complete(with_tools))
    assert completion.input_tokens == len(hf._encode(with_tools))  # type: ignore[attr-defined]
    text = 'ok <tool_call>\n{"name": "bookTicket", "arguments": {"origin": "Riverton"}}\n</tool_call> <tool_call>{bad</tool_call>'
    assert _tool_calls(text) == [{"name": "bookTicket", "arguments": {"origin": "Riverton"}}]


def test_adapter_loads_and_changes_outputs(tiny: tuple[Path, Path]) -> None:
    model, adapter = tiny
    base, tuned = backend(model), backend(model, adapter=str(adapter))
    assert tuned.identity()["adapter"] == str(adapter)

    async def go(hf: Backend) -> list[str]:
        completions = await asyncio.gather(*(hf.complete(chat(q)) for q in QUERIES[:3]))
        await hf.aclose()
        return [c.text for c in completions]

    assert asyncio.run(go(base)) != asyncio.run(go(tuned))


def test_missing_paths_are_spec_errors(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(SpecError, match="no-such-model"):
        backend(missing)
    with pytest.raises(SpecError, match="no-such-adapter"):
        backend(tiny[0], adapter=str(tmp_path / "no-such-adapter"))
