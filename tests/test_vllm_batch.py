"""`vllm-batch/PATH`: batch inference through Ray Data's LLM processors.

vLLM cannot be installed here (CUDA wheels), so the Ray test runs the backend with a stand-in
for the engine stage only (tests/stand_ins/vllm_batch_run.py says exactly what is real):
the batching backend, the prompt rendering with the model's tokenizer, the real
`build_processor(vLLMEngineProcessorConfig(...))` with our preprocess and postprocess, and Ray Data
running each batch as a Dataset with the engine stage's own settings are real; the stage's UDF,
which would run vLLM, is the stand-in. The other tests need no Ray."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pertool.errors import SpecError
from pertool.models.base import Request, Sampling
from pertool.models.vllm_batch import _completion, engine_kwargs, sampling_params
from support.cli import run_pertool

STAND_IN = Path(__file__).parent / "stand_ins" / "vllm_batch_run.py"


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


def test_without_vllm_the_spec_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_pertool("eval", "--model", "vllm-batch/some/model", "--limit", "2", "--out", out,
                       "--no-progress")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["pertool: error: vllm-batch/some/model needs vLLM, which is not "
                                                "installed: pip install vllm (CUDA wheels; on a machine with a "
                                                "GPU), and pertool's extras `ray` and `hf`"]  # fmt: skip
    assert not out.exists()


@pytest.mark.slow
def test_batches_through_the_ray_data_processor_answer_each_request_its_own(tmp_path: Path) -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    from pertool.testing.raycluster import LoopbackNamespace, namespace_problem
    from pertool.training.tiny_model import build_tiny_model

    problem = namespace_problem()
    if problem is not None:
        stop = pytest.fail if os.environ.get("CI") else pytest.skip
        stop(f"Ray tests need a loopback-only namespace: {problem}")
    model = build_tiny_model(tmp_path / "tiny")  # for its tokenizer and chat template
    out = tmp_path / "out.json"
    with LoopbackNamespace() as ns:
        proc = ns.run([sys.executable, str(STAND_IN), str(model), str(out)], 180)
        leftovers = ns.leftovers()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not leftovers, "Ray processes outlived the run"
    report = json.loads(out.read_text())

    sys.path.insert(0, str(STAND_IN.parent))
    from vllm_batch_run import stand_in_text  # the stand-in engine's rule, to check each answer

    # the real processor: vLLM's engine stage alone, one GPU per engine, --vllm-args as kwargs
    assert report["processor"]["stages"] == ["vLLMEngineStage"] and report["processor"]["num_gpus"] == 1
    assert report["processor"]["engine"]["max_model_len"] == 512
    assert report["processor"]["engine"]["enforce_eager"] is True
    assert report["batches"] == [4, 3]  # 7 requests at once, --batch-size 4
    results = report["results"]
    assert len({r["prompt"] for r in results}) == len(results)
    for r in results[:4]:  # chat: the tokenizer's template applied here, before the engine
        assert r["prompt"].startswith("<|im_start|>user\nquestion ") and r["prompt"].endswith("assistant\n")
    for r in (*results[:4], results[6]):
        assert r["text"] == stand_in_text(r["prompt"], r["max_tokens"]), r  # its own answer, no mix-up
        assert r["input_tokens"] == len(r["prompt"].split()) and r["output_tokens"] == len(r["text"].split())
        assert r["tool_calls"] == []
    assert results[4] == {"prompt": results[4]["prompt"], "max_tokens": 5,
                          "error": f"BackendError: vllm-batch/{model}: ValueError: the stand-in engine refused "
                          "this row"}  # fmt: skip
    assert '"name": "lookup"' in results[5]["prompt"]  # the tools reached the chat template
    assert results[5]["tool_calls"] == [{"name": "lookup", "arguments": {"q": "x"}}]
    assert results[6]["prompt"] == "raw text prompt" and results[6]["text"] == "seen"  # max_tokens 1
