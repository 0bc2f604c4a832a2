"""Training throughput of `pertool train lora`: time to the first step, tokens per second, seconds
per step, peak memory.

    python benchmarks/train_throughput.py [--base PATH] [--steps 30] [--batch-size B] [--grad-accum 1]
                                          [--tokenize-all]

Without --base it builds the tiny random Qwen2 model (pertool.training.tiny_model) in a temporary
directory; with --base it trains that model (a real one on a GPU: bf16 where supported). The
trainer is the one `pertool train lora` uses (pertool.training.lora.build_trainer) with the
paper's recipe, gradient checkpointing included, on builtin:train, and the records are chosen as
it chooses them: only those the steps use (training_order) are rendered and tokenized.
--tokenize-all tokenizes all 7,096 records first, as `train lora` did before, for comparison.
Time to first step runs from loading the benchmark to the first step's start (the model load,
rendering and tokenizing; not the imports). Tokens are the non-padding tokens of the batches
trained on; the first step (allocation, warm-up) is timed apart. Peak memory is
torch.cuda.max_memory_allocated on a GPU, the process's max RSS on CPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from pertool.kinds import load_benchmark
from pertool.training.lora import DEFAULTS, build_trainer, prompt_completion_records, training_order
from pertool.training.tiny_model import build_tiny_model


class StepClock(TrainerCallback):
    """perf_counter at the start of the first optimizer step and at the end of every one."""

    def __init__(self) -> None:
        self.first_begin: float | None = None
        self.ends: list[float] = []

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.first_begin is None:
            self.first_begin = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="model directory (default: build the tiny model)")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps (default 30)")
    ap.add_argument("--batch-size", type=int,
                    help="sequences per device batch (default: the recipe's 2 on a GPU; 1 on CPU, where "
                         "attention over padded batches materialises the full mask and crawls)")  # fmt: skip
    ap.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation (the recipe uses 8)")
    ap.add_argument("--no-checkpointing", action="store_true", help="turn gradient checkpointing off")
    ap.add_argument("--tokenize-all", action="store_true",
                    help="tokenize every record before the first step (train lora before issue 12)")
    args = ap.parse_args()
    if args.batch_size is None:
        args.batch_size = DEFAULTS["per_device_train_batch_size"] if torch.cuda.is_available() else 1

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.base) if args.base else build_tiny_model(Path(tmp) / "tiny")
        settings = {**DEFAULTS, "per_device_train_batch_size": args.batch_size,
                    "gradient_accumulation_steps": args.grad_accum, "logging_steps": args.steps,
                    "save_steps": 10 * args.steps, "gradient_checkpointing": not args.no_checkpointing}  # fmt: skip
        setup = time.perf_counter()
        samples = load_benchmark("builtin:train")
        order = training_order(len(samples), settings, max_steps=args.steps)
        used = list(range(len(samples))) if args.tokenize_all else sorted(set(order))
        row = {sample: i for i, sample in enumerate(used)}
        records = prompt_completion_records([samples[i] for i in used], "text")
        rendered = time.perf_counter()
        trainer = build_trainer(base, records, settings, Path(tmp) / "out", order=[row[i] for i in order])
        built = time.perf_counter()
        trainer.args.save_strategy = "no"  # time the training alone

        tokens: list[int] = []  # non-padding tokens of every batch the trainer draws
        collate = trainer.data_collator

        def counting(examples: list[dict[str, Any]]) -> dict[str, Any]:
            batch = collate(examples)
            tokens.append(int(batch["attention_mask"].sum()))
            return batch

        trainer.data_collator = counting
        clock = StepClock()
        trainer.add_callback(clock)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        trainer.train()

    steps = len(clock.ends)
    per_step = len(tokens) // max(steps, 1)  # batches per optimizer step
    timed_tokens = sum(tokens[per_step:])  # all but the first step's batches
    timed = clock.ends[-1] - clock.ends[0] if steps > 1 else clock.ends[0] - started
    if steps <= 1:
        timed_tokens = sum(tokens)
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name()})"
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (torch.cuda.max_memory_allocated)"
    else:
        device = "cpu"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak = f"{rss / (2**30 if sys.platform == 'darwin' else 2**20):.2f} GiB (max RSS)"
    dtype = "bfloat16" if trainer.args.bf16 else "float32"
    print(f"model:           {args.base or 'tiny random Qwen2 (built here)'}")
    print(f"device:          {device}, {dtype}, gradient checkpointing {'off' if args.no_checkpointing else 'on'}")
    print(f"steps:           {steps} x {args.batch_size} sequences x {args.grad_accum} accumulation "
          f"({sum(tokens) / max(len(tokens) * args.batch_size, 1):.0f} tokens per sequence on average)")
    first_begin = clock.first_begin if clock.first_begin is not None else started
    print(f"first step at:   {first_begin - setup:.1f} s: load + render {len(records)} records "
          f"{rendered - setup:.1f} s, model + tokenize {built - rendered:.1f} s, trainer start "
          f"{first_begin - built:.1f} s")  # fmt: skip
    print(f"first step:      {clock.ends[0] - started:.2f} s (warm-up, not in the rates below)")
    print(f"seconds/step:    {timed / max(steps - 1, 1):.3f}")
    print(f"tokens/second:   {timed_tokens / timed:,.0f} (non-padding tokens, forward + backward)")
    print(f"peak memory:     {peak}")


if __name__ == "__main__":
    main()
