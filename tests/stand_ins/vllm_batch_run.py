"""`vllm-batch/` with a stand-in for vLLM's engine stage (vLLM cannot be installed here).

    vllm_batch_run.py MODEL_DIR OUT.json     (inside a loopback-only namespace; starts its own Ray)

Real: `BatchProcessorBackend` (collecting, batching, rendering and tokenizing with the model's
tokenizer, futures, errors), `vllm_processor` (`ray.data.llm.build_processor` with a real
`vLLMEngineProcessorConfig`, our preprocess and postprocess), and Ray Data running the batch as
a Dataset with the engine stage's own map_batches settings (actor pool, one GPU per engine: Ray
is started with one logical GPU). Stand-in: only the engine stage's UDF, which reads the token
ids vLLM would get (`tokenized_prompt`), answers as `stand_in_text` says and yields vLLM's
output columns (generated_text, num_input_tokens, num_generated_tokens, __inference_error__)
instead of running vLLM. Not exercised here: `vllm_batch.create` (it needs vLLM installed and a
GPU in the cluster) and so its Ray start; tests/test_vllm_batch.py checks those without Ray.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any

# What the stand-in engine does, told by a request's max_tokens (it sees token ids only)
FAIL, LONG, CALL = 2, 3, 4


def stand_in_text(tokens: list[int], max_tokens: int) -> str:
    """The stand-in engine's answer: a digest of the exact token ids it was given."""
    if max_tokens == CALL:
        return '<tool_call>{"name": "lookup", "arguments": {"q": "x"}}</tool_call>'
    words = ["seen", hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:12], *["more"] * 10]
    return " ".join(words[:max_tokens])


def with_stand_in_engine(processor: Any) -> Any:
    """`processor` with its vLLMEngineStage's UDF replaced; every other setting kept."""
    from ray.llm._internal.batch.stages.base import StatefulStage, StatefulStageUDF

    class StandInEngineUDF(StatefulStageUDF):
        def __init__(self, data_column: str, expected_input_keys: list[str], **_: Any):
            super().__init__(data_column, expected_input_keys)

        async def udf(self, batch: list[dict[str, Any]]) -> Any:
            for row in batch:
                out: dict[str, Any] = {self.IDX_IN_BATCH_COLUMN: row[self.IDX_IN_BATCH_COLUMN]}
                assert "prompt" not in row, "the engine is given token ids, not text"
                tokens, max_tokens = [int(t) for t in row["tokenized_prompt"]], int(row["sampling_params"]["max_tokens"])
                if max_tokens in (FAIL, LONG):
                    error = (f"ValueError: The decoder prompt (length {len(tokens)}) is longer than the maximum "
                             "model length of 16." if max_tokens == LONG else "ValueError: the stand-in engine "
                             "refused this row")  # fmt: skip
                    yield {**out, "__inference_error__": error}
                    continue
                answer = stand_in_text(tokens, max_tokens)
                yield {**out, "generated_text": answer, "num_input_tokens": len(tokens),
                       "num_generated_tokens": len(answer.split()), "__inference_error__": ""}  # fmt: skip

    class StandInEngineStage(StatefulStage):
        fn: type = StandInEngineUDF

    real = processor.stages["vLLMEngineStage"]
    processor.stages["vLLMEngineStage"] = StandInEngineStage(fn_constructor_kwargs=dict(real.fn_constructor_kwargs),
                                                             map_batches_kwargs=dict(real.map_batches_kwargs))
    return processor


async def scenario(backend: Any, decode: Any) -> list[dict[str, Any]]:
    from pertool.models.base import Request, Sampling

    def chat(text: str, max_tokens: int = 5, **kw: Any) -> Request:
        return Request(messages=({"role": "user", "content": text},), sampling=Sampling(max_tokens=max_tokens), **kw)

    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    requests = [chat("question one"), chat("question two"), chat("question fail", FAIL),
                chat("question call", CALL, tools=(tool,)), chat("question long", LONG),
                Request(prompt="raw text prompt", sampling=Sampling(max_tokens=1))]  # fmt: skip
    answers = await asyncio.gather(*(backend.complete(r) for r in requests), return_exceptions=True)
    out = []
    for request, answer in zip(requests, answers):
        tokens = backend._render(request)
        entry: dict[str, Any] = {"tokens": tokens, "text": decode(tokens),
                                 "max_tokens": request.sampling.max_tokens}  # fmt: skip
        if isinstance(answer, BaseException):
            entry["error"] = f"{type(answer).__name__}: {answer}"
        else:
            entry.update(answer=answer.text, tool_calls=answer.tool_calls, input_tokens=answer.input_tokens,
                         output_tokens=answer.output_tokens)  # fmt: skip
        out.append(entry)
    return out


def main(model_dir: str, out_file: str, address: str = "") -> None:
    import ray
    from transformers import AutoTokenizer

    from pertool.models.registry import ModelOptions
    from pertool.models.vllm_batch import BatchProcessorBackend, prompt_renderer, vllm_processor

    if address:  # a cluster whose head has one (logical) GPU
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    options = ModelOptions(batch_size=8, vllm_args="--max-model-len 512 --enforce-eager")
    built: dict[str, Any] = {}

    def make_processor() -> Any:
        processor = vllm_processor(model_dir, options)
        engine = processor.stages["vLLMEngineStage"]
        built.update(stages=processor.list_stage_names(), engine=engine.fn_constructor_kwargs["engine_kwargs"],
                     num_gpus=engine.map_batches_kwargs.get("num_gpus"))  # fmt: skip
        return with_stand_in_engine(processor)

    backend = BatchProcessorBackend(model_dir, render=prompt_renderer(model_dir), make_processor=make_processor,
                                    batch_size=8, batch_wait_s=0.5)  # fmt: skip
    results = asyncio.run(scenario(backend, AutoTokenizer.from_pretrained(model_dir).decode))
    asyncio.run(backend.aclose())
    if address:  # leave the cluster as found: Ray Data's detached actors (stats, autoscaling)
        for named in ray.util.list_named_actors(all_namespaces=True):  # outlive this job otherwise
            ray.kill(ray.get_actor(named["name"], namespace=named["namespace"]))
    ray.shutdown()
    with open(out_file, "w") as f:
        json.dump({"results": results, "batches": backend.batches, "processor": built}, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
