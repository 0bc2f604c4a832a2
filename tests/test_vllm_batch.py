"""`vllm-batch/PATH`: batch inference through Ray Data's LLM processors.

vLLM cannot be installed here (CUDA wheels). Without Ray: the factory's one-line refusals (no
vLLM, --adapter, a Ray it cannot join: through pertool's shared Ray connect), the cache key, the
token ids the engine gets (rendered as hf/ renders them: no second BOS), and the batching with a
plain function as the engine (sizes, each row its own answer, a row's error its request's alone,
a too-long prompt a ContextOverflow). With Ray, tests/test_ray_eval.py runs the backend on its
cluster with a stand-in for the engine stage only (tests/stand_ins/vllm_batch_run.py says
exactly what is real): the real `build_processor(vLLMEngineProcessorConfig(...))` with our
preprocess and postprocess, and Ray Data running the batch as a Dataset with the engine stage's
own settings; the stage's UDF, which would run vLLM, is the stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from pertool.cli.main import main
from pertool.errors import BackendError, ContextOverflow, SpecError
from pertool.models.base import Request, Sampling
from pertool.models.vllm_batch import (
    INDEX,
    BatchProcessorBackend,
    _completion,
    engine_kwargs,
    prompt_renderer,
    sampling_params,
)

RUN = ["--limit", "2", "--no-progress"]


def test_vllm_args_become_engine_kwargs_and_data_parallel_size_the_engines() -> None:
    kwargs, engines = engine_kwargs("--max-model-len 4096 --enable-prefix-caching --gpu-memory-utilization=0.8 "
                                    "--data-parallel-size 2 --dtype half")  # fmt: skip
    assert kwargs == {"max_model_len": 4096, "enable_prefix_caching": True, "gpu_memory_utilization": 0.8,
                      "dtype": "half"}  # fmt: skip
    assert engines == 2
    assert engine_kwargs("") == ({}, 1)
    for bad in ("max-model-len 4", "--data-parallel-size 0", "--data-parallel-size two", "'unclosed"):
        with pytest.raises(SpecError, match="--vllm-args"):
            engine_kwargs(bad)


def test_rows_share_one_schema_and_answers_are_cut_at_stops() -> None:
    plain, full = Sampling(), Sampling(temperature=0.5, max_tokens=7, top_p=0.9, stop=("END",))
    assert sampling_params(plain).keys() == sampling_params(full).keys()
    assert sampling_params(full) == {"temperature": 0.5, "max_tokens": 7, "top_p": 0.9, "stop": ["END"]}
    row = {"text": "fine END and more", "input_tokens": 9, "output_tokens": 4}
    completion = _completion(row, Request(prompt="p", sampling=full))
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("fine ", 9, 4)


def test_without_vllm_the_spec_is_one_line_and_nothing_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # not importable here, even where vLLM is installed
    out = tmp_path / "run"
    assert main(["eval", "--model", "vllm-batch/some/model", *RUN, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pertool: error: vllm-batch/some/model needs vLLM, which is not installed: pip install vllm (CUDA "
        "wheels; on a machine with a GPU), and pertool's extras `ray` and `hf`"]  # fmt: skip
    assert not out.exists()


def test_an_adapter_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["eval", "--model", "vllm-batch/some/model", "--adapter", "lora/x", *RUN, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pertool: error: vllm-batch/some/model does not load adapters (--adapter lora/x): use vllm/ with "
        "--adapter, or a merged checkpoint"]  # fmt: skip
    assert not out.exists()


def test_a_ray_it_cannot_join_is_one_line_and_sigterm_stays_pertools(tmp_path: Path, monkeypatch, capsys) -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    fake = tmp_path / "site" / "vllm"  # vLLM "installed": the factory goes on to join Ray
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(fake.parent))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    # An address Ray refuses at once. ("auto" would join any Ray running on the machine, found by
    # its processes, such as another test's cluster in its own network namespace, and wait for it;
    # an address where nothing listens takes Ray minutes to give up.)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:notaport")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "ray-tmp"))  # not the machine's /tmp/ray
    on_sigterm = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "run"
    assert main(["eval", "--model", "vllm-batch/some/model", *RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pertool: error: could not start or join the Ray cluster at 127.0.0.1:notaport: ")
    handler = signal.getsignal(signal.SIGTERM)  # pertool's (the CLI's), never Ray's sys.exit(15)
    assert handler == on_sigterm or getattr(handler, "__module__", "").startswith("pertool."), handler
    assert not out.exists()


def test_the_cache_key_holds_the_engine_settings_but_not_the_number_of_engines() -> None:
    def key(vllm_args: str) -> dict[str, Any]:
        backend = BatchProcessorBackend("m", render=lambda r: [1], make_processor=lambda: None, vllm_args=vllm_args)
        return backend.identity()

    assert key("") == {"backend": "vllm-batch", "model": "m", "engine": {}}
    assert key("--dtype half --max-model-len 4096") == key("--max-model-len 4096 --dtype half")
    assert key("--dtype half") != key("--dtype float") != key("")
    assert key("--dtype half --data-parallel-size 4") == key("--dtype half")


def _bos_tokenizer(out: Path) -> Path:
    """A word-level tokenizer that adds a BOS (as Llama 3's and Mistral's do) and whose chat
    template writes one too: text given to vLLM would get two."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<s>", "</s>", "<unk>", "question", "one", "raw", "text", "prompt"])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.chat_template = "{{ bos_token }}{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tok.save_pretrained(str(out))
    return out


def test_the_engine_gets_the_token_ids_hf_would_use_with_one_bos(tmp_path: Path) -> None:
    render = prompt_renderer(str(_bos_tokenizer(tmp_path / "tok")))
    chat = Request(messages=({"role": "user", "content": "question one"},))
    assert render(chat) == [0, 3, 4]  # the template's BOS, and no second one
    assert render(Request(prompt="raw text prompt")) == [0, 5, 6, 7]  # a raw prompt: the tokenizer's BOS
    with pytest.raises(BackendError, match="needs messages or a prompt"):
        render(Request())


def _engine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A plain engine: answers from the token ids; token 9 fails, 8 is too long, 7 is lost."""
    out = []
    for row in rows:
        tokens = row["tokenized_prompt"]
        if 7 in tokens:
            continue
        if 9 in tokens or 8 in tokens:
            error = ("ValueError: The decoder prompt (length 9000) is longer than the maximum model length of "
                     "4096." if 8 in tokens else "RuntimeError: boom\ntraceback")  # fmt: skip
            out.append({INDEX: row[INDEX], "__inference_error__": error})
            continue
        text = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>" if 6 in tokens else f"ids {tokens} END x"
        out.append({INDEX: row[INDEX], "text": text, "input_tokens": len(tokens), "output_tokens": 3,
                    "__inference_error__": ""})  # fmt: skip
    return out


def test_batches_answer_each_request_its_own_and_errors_stay_per_request() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    requests = [Request(prompt=str(i), sampling=Sampling(stop=("END",))) for i in range(4)]
    requests += [Request(prompt="9"), Request(prompt="8"), Request(prompt="7"), Request(prompt="6", tools=(tool,))]
    backend = BatchProcessorBackend("m", render=lambda r: [int(r.prompt or 0)], make_processor=lambda: None,
                                    batch_size=5, batch_wait_s=0.2, run_batch=_engine)  # fmt: skip

    async def run() -> list[Any]:
        answers = await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)
        await backend.aclose()
        return answers

    answers = asyncio.run(run())
    assert backend.batches == [5, 3]  # 8 requests at once, --batch-size 5
    for i in range(4):
        assert (answers[i].text, answers[i].input_tokens, answers[i].output_tokens) == (f"ids [{i}] ", 1, 3)
    assert isinstance(answers[4], BackendError) and str(answers[4]) == "vllm-batch/m: RuntimeError: boom"
    overflow = answers[5]
    assert isinstance(overflow, ContextOverflow), overflow
    assert (overflow.prompt_tokens, overflow.window) == (9000, 4096)
    assert str(answers[6]) == "vllm-batch/m: the processor returned no row for a request"
    assert answers[7].tool_calls == [{"name": "f", "arguments": {}}]
