"""Throughput of `pertool eval` against a slow server, and of the public script's loop.

    python benchmarks/eval_throughput.py [--n 1083] [--latency 0.2] [--concurrency 32] [--sequential 60]

A `pertool mock-server` (its own process) answers every request after `--latency` seconds.
Prints pertool's wall time against the ideal n * latency / concurrency (target: at most 1.25x),
and the speed-up over the public script's one-request-at-a-time loop, measured in the same run
on `--sequential` samples (a plain loop of blocking requests) and scaled to n.
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

import httpx

from pertool.benchmarks.ptbench import load_ptbench
from pertool.benchmarks.ptbench_prompts import chat_messages
from pertool.testing.factory import record, write_split_dir


def build(root: Path, n: int) -> Path:
    half = n * 474 // 1083
    rows = [record(query=f"Order {i} packs of paper.",
                   calls=[("placeOrder", {"productName": [f"paper {i}"], "quantity": [i + 1]})])
            for i in range(n)]  # fmt: skip
    return write_split_dir(root / "bench", rows[:half], rows[half:])


def start_server(root: Path, latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pertool.cli.main", "mock-server", "--benchmark",
                             f"ptbench:{root}", "--port", "0", "--latency", str(latency)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def sequential(root: Path, url: str, count: int) -> float:
    """The public script's way: one blocking request after another."""
    samples = load_ptbench(root)[:count]
    start = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        for sample in samples:
            client.post(f"{url}/chat/completions", json={"model": "m", "messages": chat_messages(sample)})
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1083)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--sequential", type=int, default=60, help="samples timed in the sequential loop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp), args.n)
        server, url = start_server(root, args.latency)
        try:
            env = {**os.environ, "PERTOOL_CACHE_DIR": str(Path(tmp) / "cache")}
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pertool.cli.main", "eval", "--benchmark",
                                   f"ptbench:{root}", "--model", "openai-compatible/mock", "--base-url", url,
                                   "--max-concurrency", str(args.concurrency), "--out", str(Path(tmp) / "run"),
                                   "--no-cache", "--no-progress", "--json", "--resamples", "0"],
                                  capture_output=True, text=True, env=env)  # fmt: skip
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            overall = json.loads(proc.stdout)["splits"]["overall"]["overall"]
            seq = sequential(root, url, args.sequential) / args.sequential * args.n
        finally:
            server.terminate()
    ideal = max(args.n * args.latency / args.concurrency, 1e-9)
    print(f"samples {args.n}, latency {args.latency} s, concurrency {args.concurrency} (overall {overall:.3f})")
    print(f"pertool eval wall time:   {wall:7.2f} s (process start, loading and scoring included)")
    print(f"ideal n*latency/conc:     {ideal:7.2f} s   ratio {wall / ideal:.2f}x (target <= 1.25x)")
    print(f"sequential loop (public): {seq:7.2f} s   (measured on {args.sequential} samples, scaled)")
    print(f"speed-up over sequential: {seq / wall:7.1f}x (target >= 25x)")


if __name__ == "__main__":
    main()
