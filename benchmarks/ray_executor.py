"""The Ray executor: replicas 1 vs 2 of a local model on CPU, and its overhead over the local
executor against a slow server, in one run.

    python benchmarks/ray_executor.py [--hf-samples 12] [--hf-tokens 8] [--n 1083] [--latency 0.2]
                                      [--concurrency 16]

Everything runs inside a network namespace of its own with only loopback (the script re-runs
itself under `unshare -n`; root needed), so Ray and the mock server bind 127.0.0.1 only. One
local Ray (2 CPUs) is started first, as a cluster would be running already; its start is
printed apart. Every run is `pertool.evaluate(...)` in this process with the cache off.

(a) `hf/` on the tiny random model (`pertool.training.tiny_model.build_tiny_model`, not the
    bundled SmolLM2), built-in test split, `--executor ray --replicas 1` vs `2`, one CPU per
    replica: samples/s end to end, replicas' model loading included, and the ratio.
(b) `openai-compatible/` against `pertool mock-server --latency 0.2` (gold answers, 200 ms each):
    the same samples and --max-concurrency with the local and the Ray executor (2 replicas);
    wall-time ratio ray / local (target at most 1.2x), replica start included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

INSIDE = "PERTOOL_RAY_BENCH_INSIDE"


def timed(**kwargs: Any) -> tuple[float, int]:
    """Wall seconds of one `pertool.evaluate`, and the samples it predicted."""
    from pertool import evaluate

    out = Path(tempfile.mkdtemp(prefix="ray-bench-")) / "run"
    start = time.perf_counter()
    evaluate(out=out, use_cache=False, resamples=0, **kwargs)
    wall = time.perf_counter() - start
    done = sum(1 for line in (out / "predictions.jsonl").read_text().splitlines() if line.strip())
    return wall, done


def replicas_on_cpu(samples: int, tokens: int) -> None:
    from pertool.training.tiny_model import build_tiny_model

    model = build_tiny_model(Path(tempfile.mkdtemp(prefix="tiny-")) / "tiny")
    common = {"model": f"hf/{model}", "limit": samples, "max_tokens": tokens, "max_concurrency": 8,
              "executor": "ray", "replica_cpus": 1.0, "options": {"batch_size": 4}}  # fmt: skip
    print(f"(a) hf/ tiny random Qwen2 (2 layers, hidden 64; not SmolLM2), builtin test split, {samples} samples, "
          f"max_tokens {tokens}, 1 CPU per replica, loading included")  # fmt: skip
    rates = {}
    for replicas in (1, 2):
        wall, done = timed(replicas=replicas, **common)
        rates[replicas] = done / wall
        print(f"    replicas {replicas}: {done} samples in {wall:6.2f} s = {rates[replicas]:6.2f} samples/s")
    print(f"    replicas 2 / replicas 1: {rates[2] / rates[1]:.2f}x")


def overhead(n: int, latency: float, concurrency: int) -> None:
    data = tempfile.mkdtemp(prefix="ray-bench-data-")
    env = {**os.environ, "PERTOOL_DATA_DIR": data}
    server = subprocess.Popen([sys.executable, "-m", "pertool.cli.main", "mock-server", "--benchmark", "builtin",
                               "--port", "0", "--latency", str(latency)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        os.environ["PERTOOL_DATA_DIR"] = data
        common = {"benchmark": "builtin", "model": "openai-compatible/mock", "limit": n,
                  "max_concurrency": concurrency, "options": {"base_url": url}}  # fmt: skip
        ideal = n * latency / concurrency
        print(f"(b) openai-compatible/ against pertool mock-server --latency {latency}: {n} samples, "
              f"--max-concurrency {concurrency} (ideal {ideal:.2f} s)")  # fmt: skip
        local, done_local = timed(**common)
        ray, done_ray = timed(executor="ray", replicas=2, **common)
        starting = replica_start(url)
        print(f"    local executor:           {done_local} samples in {local:6.2f} s")
        print(f"    ray executor, 2 replicas: {done_ray} samples in {ray:6.2f} s (replica start included)")
        print(f"    ray / local: {ray / local:.2f}x (target at most 1.2x)")
        print(f"    of which starting and stopping 2 replicas alone takes {starting:.2f} s; without it "
              f"{(ray - starting) / local:.2f}x")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)


def replica_start(url: str) -> float:
    """Seconds to start 2 replicas of the mock model and stop them, no request sent."""
    import asyncio

    from pertool.distributed import RayPool, RaySettings
    from pertool.models.registry import ModelOptions

    start = time.perf_counter()
    pool = RayPool("openai-compatible/mock", ModelOptions(base_url=url), (), RaySettings(replicas=2))
    asyncio.run(pool.aclose())
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf-samples", type=int, default=12)
    ap.add_argument("--hf-tokens", type=int, default=8)
    ap.add_argument("--n", type=int, default=1083)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    if os.environ.get(INSIDE) != "1":  # re-run inside a loopback-only network namespace
        # RAY_TMPDIR: Ray's session files and its ray_current_cluster (the machine's default
        # address for `ray.init("auto")`) go to a directory of this run's, removed at its end
        ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live there
        env = {**os.environ, INSIDE: "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_TMPDIR": ray_tmp}  # fmt: skip
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, *sys.argv]
        try:
            code = subprocess.run(cmd, env=env).returncode
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
        sys.exit(code)

    import logging

    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    print(f"local Ray (2 CPUs) started in {time.perf_counter() - start:.2f} s (not counted below)")
    try:
        replicas_on_cpu(args.hf_samples, args.hf_tokens)
        overhead(args.n, args.latency, args.concurrency)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
