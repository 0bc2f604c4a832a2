"""Tokens per second of the two local backends, `hf/` and `llamacpp/`, on the same prompts.

    python benchmarks/local_throughput.py [--quick] [--model smollm2-135m] [--benchmark example]
                                          [--limit 4] [--max-tokens 32]

Each backend runs `pertool eval` once as a subprocess (greedy, --no-cache, the same samples:
same benchmark, --limit and seed), so every figure is end to end: starting pertool, loading the
model (Transformers: the prepared checkpoint, float32; llama.cpp: the Q4_1 GGUF in its server),
reading the prompts and generating. Prints, per backend, the wall time, the prompt and answer
tokens (as the backend counted them), prompt and generation tokens/s over the wall time, and
llamacpp's speed relative to hf. `--quick`: 2 samples, 16 tokens.

`hf/NAME` uses the checkpoint under $PERTOOL_MODELS_DIR (prepared on first use, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pertool.models.bundled import resolve_hf_path

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]


def run(spec: str, model: str, args: argparse.Namespace, out: Path) -> dict[str, float | str]:
    command = [*PERTOOL, "eval", "--benchmark", args.benchmark, "--model", model, "--limit", str(args.limit),
               "--max-tokens", str(args.max_tokens), "--temperature", "0", "--no-cache", "--no-progress",
               "--resamples", "0", "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{spec} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines() if line]
    prompt = sum(r["input_tokens"] for r in records)
    answer = sum(r["output_tokens"] for r in records)
    return {"spec": spec, "samples": len(records), "wall_s": wall, "prompt": prompt, "answer": answer,
            "prompt_tps": prompt / wall, "answer_tps": answer / wall,
            "outputs": json.dumps({r["id"]: r["output"] for r in records})}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m", help="a bundled model name (both backends take it)")
    ap.add_argument("--benchmark", default="example")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per backend at most")
    ap.add_argument("--quick", action="store_true", help="2 samples, 16 tokens")
    args = ap.parse_args()
    if args.quick:
        args.limit, args.max_tokens = 2, 16
    print(f"{args.benchmark}, {args.limit} samples, max_tokens {args.max_tokens}, greedy; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    rows = []
    # The prepared checkpoint's path: the same files `hf/NAME` loads, prepared now if missing.
    checkpoint = resolve_hf_path(args.model, report=print)
    with tempfile.TemporaryDirectory(prefix="pertool-throughput-") as work:
        for prefix, model in (("hf", f"hf/{checkpoint}"), ("llamacpp", f"llamacpp/{args.model}")):
            rows.append(run(f"{prefix}/{args.model}", model, args, Path(work) / prefix))
            print(f"  {rows[-1]['spec']}: {rows[-1]['wall_s']:.1f} s", flush=True)
    print(f"\n{'backend':<24}{'wall s':>8}{'prompt tok':>12}{'answer tok':>12}{'prompt tok/s':>14}"
          f"{'answer tok/s':>14}")  # fmt: skip
    for row in rows:
        print(f"{row['spec']:<24}{row['wall_s']:>8.1f}{row['prompt']:>12}{row['answer']:>12}"
              f"{row['prompt_tps']:>14.1f}{row['answer_tps']:>14.2f}")  # fmt: skip
    hf, llama = rows
    hf_out, llama_out = json.loads(str(hf["outputs"])), json.loads(str(llama["outputs"]))
    same = sum(hf_out[key] == llama_out.get(key) for key in hf_out)
    print(f"\nllamacpp / hf: {float(hf['wall_s']) / float(llama['wall_s']):.2f}x end to end "
          f"(answer tokens/s {float(llama['answer_tps']) / max(float(hf['answer_tps']), 1e-9):.2f}x); "
          f"identical answers: {same} of {hf['samples']} (Q4_1 vs. de-quantized float32)")  # fmt: skip


if __name__ == "__main__":
    main()
