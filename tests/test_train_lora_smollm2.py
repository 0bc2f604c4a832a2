"""`pertool train lora` on a real model: SmolLM2-135M-Instruct (the bundled checkpoint), on CPU.

One short training run serves every test of the module: two short PTBench-format records (about
310 tokens each; the built-in prompts are ~5,000 tokens, most of a minute a step here) trained
for two epochs at batch 1, so each record is trained on twice and the loss can be compared on
the same batch. The learning rate is high for the loss to fall within four steps and for the
adapter to move the model's greedy answers. torch runs on one thread (support/torch_threads.py).
Measured on 2 cores shared with other jobs: 48 s in all, 44 s of CPU.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from support.real_models import require_packages

require_packages("torch", "transformers", "peft", "trl", "datasets")  # skips without; fails under CI=1

from pertool.kinds import gold_text, load_benchmark  # noqa: E402
from pertool.models.base import Backend, Request, Sampling  # noqa: E402
from pertool.models.registry import ModelOptions, create_backend  # noqa: E402
from pertool.testing.factory import record as ptbench_record  # noqa: E402
from pertool.training.lora import build_trainer, load_settings, prompt_completion_records, training_order  # noqa: E402
from support.cli import run_pertool  # noqa: E402
from support.torch_threads import ONE_THREAD_ENV, one_torch_thread  # noqa: E402

pytestmark = pytest.mark.slow

RECIPE = """\
num_train_epochs: 2  # each record twice: the loss falls on the same batch
per_device_train_batch_size: 1
gradient_accumulation_steps: 1
gradient_checkpointing: false
learning_rate: 0.002  # high: four steps must move a real model
lr_scheduler_type: constant
warmup_ratio: 0
logging_steps: 1
save_steps: 100
"""
# Made-up platforms and tools: answers the model cannot have seen, so a changed answer is the adapter's.
RECORDS = [
    ptbench_record("Zorbmart", [("orderItem", {"item": ["tea"], "address": ["1 Elm St"]})], ["item"], ["address"],
                   "Order tea for me."),
    ptbench_record("Plinkshop", [("bookRide", {"destination": ["Mica Lane"]})], ["destination"], [],
                   "Get me a ride to Mica Lane."),
]  # fmt: skip


# On 2 shared cores torch's second thread costs 3 to 4 times the CPU (support/torch_threads.py).
one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def trained(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The CLI's run: {"data", "config", "out", "result", "stderr"}."""
    root = tmp_path_factory.mktemp("smollm2-lora")
    data, config, out = root / "data.json", root / "recipe.yaml", root / "adapter"
    data.write_text(json.dumps(RECORDS))
    config.write_text(RECIPE)
    # A PTBench file is a test split: --allow-test says that training on it is meant.
    done = run_pertool("train", "lora", "--base", smollm2_dir, "--data", f"ptbench:{data}", "--allow-test",
                       "--config", config, "--out", out, env=ONE_THREAD_ENV, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "training.json").read_text())
    return {"data": data, "config": config, "out": out, "result": result, "stderr": done.stderr}


def test_the_loss_falls_on_the_same_batch(trained: dict[str, Any]) -> None:
    result = trained["result"]
    losses = [h["loss"] for h in result["loss_history"]]
    print("loss per step:", [round(x, 3) for x in losses])
    assert [h["step"] for h in result["loss_history"]] == [1, 2, 3, 4] and result["steps"] == 4
    assert result["samples"] == 2 and result["records_tokenized"] == 2
    order = training_order(2, load_settings(trained["config"]))  # which record each step trained on
    assert sorted(order) == [0, 0, 1, 1]
    for record in (0, 1):
        first, last = (losses[step] for step in (order.index(record), 3 - order[::-1].index(record)))
        assert last < 0.6 * first, (record, first, last)
    # The progress line, as plain lines (stderr is a pipe): the first and the last step at least.
    lines = [line for line in trained["stderr"].splitlines() if line.startswith("step ")]
    assert lines[0].startswith("step 1/4  loss ") and lines[-1].startswith("step 4/4  loss ")
    assert all(" tok/s  elapsed 0:" in line and "  left " in line for line in lines), lines
    logged = [json.loads(line) for line in (trained["out"] / "loss_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged] == [1, 2, 3, 4] and logged[-1]["remaining_s"] == 0
    assert all(e["tokens_per_second"] > 0 and e["elapsed_s"] > 0 for e in logged)


def test_only_the_assistant_turn_carries_loss(trained: dict[str, Any], smollm2_dir: Path, tmp_path: Path) -> None:
    """Tokenized the way the trainer does (lora.build_trainer's dataset and collator), a record's
    labelled positions are exactly the tokens after the template's "<|im_start|>assistant\\n":
    the gold answer, its "<|im_end|>" and the newline the template ends every turn with."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    samples = load_benchmark(f"ptbench:{trained['data']}")
    records = prompt_completion_records(samples, "text")
    trainer = build_trainer(smollm2_dir, records, load_settings(trained["config"]), tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    header = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for row, (sample, record) in enumerate(zip(samples, records)):
        length = int(batch["attention_mask"][row].sum())
        ids, labels = batch["input_ids"][row][:length].tolist(), batch["labels"][row][:length].tolist()
        heads = [i for i in range(length - len(header) + 1) if ids[i:i + len(header)] == header]
        start = heads[-1] + len(header)  # the assistant turn's first token
        stop = ids.index(end, start) + 1  # just past its <|im_end|>
        labelled = [i for i, label in enumerate(labels) if label != -100]
        assert labelled == list(range(start, length)), (labelled[:3], start, length)
        assert [labels[i] for i in labelled] == ids[start:]  # the labels are the tokens themselves
        assert tok.decode(ids[start:stop]) == gold_text(sample) + "<|im_end|>"
        assert tok.decode(ids[stop:]) == "\n"  # the template's turn separator, and nothing else
        prompt = tok.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=False)
        assert tok.decode(ids[:start]) == prompt and prompt.startswith("<|im_start|>system\n")
    assert not bool((batch["labels"][batch["attention_mask"] == 0] != -100).any())  # padding: no loss


def answers(backend: Backend, requests: list[Request]) -> list[str]:
    """Each request's answer (asked together: the hf backend batches them), then the backend closed."""

    async def go() -> list[str]:
        try:
            return [c.text for c in await asyncio.gather(*(backend.complete(r) for r in requests))]
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_the_adapter_loads_and_changes_the_answers(trained: dict[str, Any], smollm2_dir: Path) -> None:
    from pertool.benchmarks.ptbench_prompts import chat_messages

    requests = [Request(messages=tuple(chat_messages(s)), sampling=Sampling(max_tokens=8))
                for s in load_benchmark(f"ptbench:{trained['data']}")]  # fmt: skip
    base = answers(create_backend(f"hf/{smollm2_dir}", ModelOptions()), requests)
    tuned_backend = create_backend(f"hf/{smollm2_dir}", ModelOptions(adapter=str(trained["out"])))
    assert tuned_backend.identity()["adapter"] == str(trained["out"])
    tuned = answers(tuned_backend, requests)
    print("base:", base, "\ntuned:", tuned)
    assert base != tuned
    # Trained towards made-up platform names, which begin the gold answers.
    assert any(a.startswith(("Zorbmart", "Plinkshop")) for a in tuned), tuned
