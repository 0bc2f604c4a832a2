"""Training throughput of `pertool train lora`: tokens per second, seconds per step, peak memory.

    python benchmarks/train_throughput.py [--base PATH] [--steps 30] [--batch-size B] [--grad-accum 1]

Without --base it builds the tiny random Qwen2 model (pertool.training.tiny_model) in a temporary
directory; with --base it trains that model (a real one on a GPU: bf16 where supported). The
trainer is the one `pertool train lora` uses (pertool.training.lora.build_trainer) with the
paper's recipe, gradient checkpointing included, on builtin:train. Tokens are the non-padding
tokens of the batches trained on; the first step (allocation, warm-up) is timed apart. Peak
memory is torch.cuda.max_memory_allocated on a GPU, the process's max RSS on CPU.
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

from pertool.benchmarks.registry import load_benchmark
from pertool.training.lora import DEFAULTS, build_trainer, prompt_completion_records
from pertool.training.tiny_model import build_tiny_model


class StepClock(TrainerCallback):
    """perf_counter at the end of every optimizer step."""

    def __init__(self) -> None:
        self.ends: list[float] = []

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
    args = ap.parse_args()
    if args.batch_size is None:
        args.batch_size = DEFAULTS["per_device_train_batch_size"] if torch.cuda.is_available() else 1

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.base) if args.base else build_tiny_model(Path(tmp) / "tiny")
        sequences = args.steps * args.batch_size * args.grad_accum
        records = prompt_completion_records(load_benchmark("builtin:train")[:sequences], "text")
        settings = {**DEFAULTS, "per_device_train_batch_size": args.batch_size,
                    "gradient_accumulation_steps": args.grad_accum, "logging_steps": args.steps,
                    "save_steps": 10 * args.steps, "gradient_checkpointing": not args.no_checkpointing}  # fmt: skip
        trainer = build_trainer(base, records, settings, Path(tmp) / "out", max_steps=args.steps)
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
    print(f"first step:      {clock.ends[0] - started:.2f} s (warm-up, not in the rates below)")
    print(f"seconds/step:    {timed / max(steps - 1, 1):.3f}")
    print(f"tokens/second:   {timed_tokens / timed:,.0f} (non-padding tokens, forward + backward)")
    print(f"peak memory:     {peak}")


if __name__ == "__main__":
    main()
