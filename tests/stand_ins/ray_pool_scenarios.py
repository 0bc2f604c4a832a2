"""Evaluations and `RayPool` scenarios on a running Ray cluster, in one driver process: one
Python start, one import of pertool (and torch), one connection to the cluster for all.

    ray_pool_scenarios.py local WORKDIR       (no Ray: while the cluster starts)
    ray_pool_scenarios.py ADDRESS WORKDIR     (inside the cluster's loopback-only namespace)

Evaluations (`pertool.evaluate`, the API behind `pertool eval`): `oracle` and `baseline/history`
on the built-in benchmark and the tiny random `hf/` model on its compact set, each with the
local executor and with `executor="ray"` on the cluster, into WORKDIR/<name>-local and
WORKDIR/<name>-ray; the Ray runs of the answerers keep the response cache on (PERTOOL_CACHE_DIR).
The test compares the run directories. `local` builds the tiny model (WORKDIR/tiny) and makes
its local run: torch's import and the model's build need no cluster, so they overlap its start.

Pool scenarios, what each saw written to WORKDIR/seen.json. Real: Ray, the pool, its replica
actors, the openai-compatible backend they build, and a stub server
(pertool.testing.openai_stub) in this process on the namespace's loopback, which the replicas
reach over HTTP:

- retries: the server refuses the first request (503, Retry-After 0); after `aclose()` the
  pool still counts that retry (metrics.json and the CLI read it then).
- stuck: the server holds the first request for 60 s; with a request bound of 1 s the pool
  kills that replica, starts another and gets the answer there.
- start_timeout: replicas that cannot start in time (a start bound of 1 ms): the error names
  what they ask for.
- credential: the key's variable is set here but not on the nodes: the replica's error says
  where it is missing.
- left: once every pool is closed (the failed starts included), no replica actor is left
  running in this driver, which is still connected (Ray would end them only when it leaves).

The evaluations, the pool scenarios and the tiny model's Ray run go side by side (threads): each
is mostly waiting for a replica to start.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TAG = "PERTOOL_TEST_NAMESPACE"


def replica_actor_pids() -> list[int]:
    """Live replica actor workers of this namespace (Ray titles them ray::Replica...)."""
    needle = f"{TAG}={os.environ[TAG]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes().startswith(b"ray::Replica") and \
                    needle in (entry / "environ").read_bytes().split(b"\0"):  # fmt: skip
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def until_no_replicas(within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := replica_actor_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


async def scenarios(url: str) -> dict[str, Any]:
    """The pool scenarios, one after another (the stub tells them apart by model name)."""
    from pertool.distributed import RayPool, RaySettings
    from pertool.errors import PertoolError
    from pertool.models.base import Request, Sampling
    from pertool.models.registry import ModelOptions

    request = Request(messages=({"role": "user", "content": "hi"},), sampling=Sampling(max_tokens=4))
    options = ModelOptions(base_url=url, backoff_cap_s=0.1)
    seen: dict[str, Any] = {}

    pool = RayPool("openai-compatible/retry", options, (), RaySettings())  # the first request refused once
    answer = await pool.complete(request)
    await pool.aclose()
    seen["retries"] = {"text": answer.text, "retries": pool.retries, "reason": pool.last_retry_reason}

    pool = RayPool("openai-compatible/stuck", options, (), RaySettings(request_timeout_s=1.0))  # held 60 s
    started = time.monotonic()
    answer = await pool.complete(request)
    seen["stuck"] = {"text": answer.text, "seconds": time.monotonic() - started, "summary": pool.summary()}
    await pool.aclose()

    try:
        RayPool("openai-compatible/m", options, (), RaySettings(replicas=2, replica_cpus=0.5), start_timeout_s=0.001)
        seen["start_timeout"] = {"error": None}
    except PertoolError as exc:
        seen["start_timeout"] = {"error": str(exc)}

    os.environ["PERTOOL_RAY_TEST_KEY"] = "set-on-the-driver-only"
    try:
        RayPool("openai-compatible/m", ModelOptions(base_url=url, api_key_env="PERTOOL_RAY_TEST_KEY"), ())
        seen["credential"] = {"error": None}
    except PertoolError as exc:
        seen["credential"] = {"error": str(exc)}
    return seen


EVALUATIONS = {"oracle": {"model": "oracle", "limit": 6},
               "baseline-history": {"model": "baseline/history", "limit": 6},
               "tiny-hf": {"benchmark": "builtin-mini", "limit": 2, "max_tokens": 4}}  # fmt: skip


def evaluate_timed(name: str, executor: str, address: str, work: Path, seconds: dict[str, float],
                   **settings: Any) -> None:  # fmt: skip
    from pertool import evaluate

    started = time.monotonic()
    ray = {"executor": "ray", "ray_address": address} if executor == "ray" else {}
    # the Ray runs of the answerers with the cache on; one replica: spreading requests over two is
    # the mock server tests' part
    evaluate(out=work / f"{name}-{executor}", use_cache=executor == "ray" and name != "tiny-hf", resamples=0,
             **ray, **settings)  # fmt: skip
    seconds[f"{name} {executor}"] = time.monotonic() - started


def answerers(address: str, work: Path, seconds: dict[str, float]) -> None:
    for name in ("oracle", "baseline-history"):
        for executor in ("local", "ray"):
            evaluate_timed(name, executor, address, work, seconds, **EVALUATIONS[name])


def tiny_hf(work: Path) -> dict[str, Any]:
    return {"model": f"hf/{work / 'tiny'}", **EVALUATIONS["tiny-hf"]}  # random weights, greedy: deterministic


def local(work: Path) -> None:
    from pertool.training.tiny_model import build_tiny_model

    build_tiny_model(work / "tiny")
    evaluate_timed("tiny-hf", "local", "", work, {}, **tiny_hf(work))


def main(address: str, work_dir: str) -> None:
    import ray

    from pertool.testing.openai_stub import Reply, StubServer, chat

    firsts: set[str] = set()  # the models whose first request came
    lock = threading.Lock()

    def respond(body: Any, _request: Any) -> Reply:
        model = body.get("model") if isinstance(body, dict) else None
        with lock:
            first = model not in firsts
            firsts.add(str(model))
        if first and model == "retry":
            return Reply(503, json={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
        if first and model == "stuck":
            return Reply(json=chat("late"), delay_s=60)
        return Reply(json=chat("fine"))

    work = Path(work_dir)
    seconds: dict[str, float] = {}  # where the time goes, for whoever makes this faster
    started = time.monotonic()
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    seconds["connect"] = time.monotonic() - started
    started = time.monotonic()
    # Independent parts side by side: most of each is waiting for a replica's start
    with StubServer(respond) as server, ThreadPoolExecutor(4) as threads:
        pool_scenarios = threads.submit(asyncio.run, scenarios(server.url))
        answered = threads.submit(answerers, address, work, seconds)
        evaluate_timed("tiny-hf", "ray", address, work, seconds, **tiny_hf(work))
        answered.result()
        seen = pool_scenarios.result()
    # every pool is closed: no replica actor may be left running in this (still connected) driver
    seen["left"] = until_no_replicas(10)
    seconds["all"] = time.monotonic() - started
    ray.shutdown()
    seen["seconds"] = seconds
    (work / "seen.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    local(Path(sys.argv[2])) if sys.argv[1] == "local" else main(sys.argv[1], sys.argv[2])
