"""What the prefix-friendly send order saves on a server with a prompt cache (llama.cpp).

    python benchmarks/prefix_order.py [--benchmark builtin-mini] [--limit 40] [--max-tokens 8]
                                      [--model llamacpp/smollm2-135m] [--concurrency 1]

Runs `pertool eval` twice as subprocesses on the same seeded sample draw, greedy and without
pertool's response cache: once with `--order shuffled` (a seeded random order, what a server
sees from a tool that ignores prefixes) and once with `--order prefix` (the default). llama.cpp
keeps the previous prompt's tokens and re-reads only what differs, so prompts that share a
beginning cost less when they arrive one after another. Prints, per order, the wall time (end
to end: starting pertool and the server included), the summed request latency (model time
only), and the speedup; checks that both runs wrote the same answers and the same metrics,
since the order must change no result. A one-sample warm-up run goes first, so neither order
pays for a cold start.

--concurrency 1 (the default) sends one request at a time, so the server receives them exactly
in the send order; llama-cpp-python's server answers one at a time anyway.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PERTOOL = [sys.executable, "-m", "pertool.cli.main"]


def run(order: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    command = [*PERTOOL, "eval", "--benchmark", args.benchmark, "--model", args.model, "--limit",
               str(args.limit), "--max-tokens", str(args.max_tokens), "--temperature", "0", "--no-cache",
               "--no-progress", "--max-concurrency", str(args.concurrency), "--order", order,
               "--timeout", str(args.timeout), "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.limit * args.timeout + 600)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"--order {order} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines() if line]
    metrics = json.loads((out / "metrics.json").read_text())
    return {"order": order, "wall_s": wall, "latency_s": sum(r["latency_s"] for r in records),
            "prompt_tokens": sum(r["input_tokens"] for r in records), "answered": len(records),
            "outputs": {r["id"]: r["output"] for r in records}, "splits": metrics["splits"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", default="builtin-mini")
    ap.add_argument("--model", default="llamacpp/smollm2-135m")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0, help="pertool's --timeout per request")
    args = ap.parse_args()
    print(f"{args.model} on {args.limit} samples of {args.benchmark}, --max-tokens {args.max_tokens}, "
          f"concurrency {args.concurrency}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pertool-prefix-order-") as tmp:
        # A short warm-up first: whichever order ran first would otherwise pay for the cold page
        # cache and the first import of llama.cpp and torch.
        warm = argparse.Namespace(**{**vars(args), "limit": 1})
        print(f"  warm-up: {run('file', warm, Path(tmp) / 'warm-up')['wall_s']:.1f} s", flush=True)
        runs = []
        for order in ("shuffled", "prefix"):
            runs.append(run(order, args, Path(tmp) / order))
            r = runs[-1]
            print(f"  --order {order:<8}  wall {r['wall_s']:7.1f} s   model time {r['latency_s']:7.1f} s   "
                  f"{r['prompt_tokens']} prompt tokens, {r['answered']} answers", flush=True)  # fmt: skip
    shuffled, prefix = runs
    print(f"speedup of the prefix order: {shuffled['wall_s'] / prefix['wall_s']:.2f}x end to end, "
          f"{shuffled['latency_s'] / max(prefix['latency_s'], 1e-9):.2f}x in model time")
    same_answers = shuffled["outputs"] == prefix["outputs"]
    same_metrics = shuffled["splits"] == prefix["splits"]
    print(f"same answers: {same_answers}; same metrics: {same_metrics}")
    if not (same_answers and same_metrics):
        sys.exit("the send order changed a result")


if __name__ == "__main__":
    main()
