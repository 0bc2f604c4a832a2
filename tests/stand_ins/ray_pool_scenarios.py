"""Evaluations and `RayPool` scenarios on a running Ray cluster, in one driver process: one
Python start, one import of pertool (and torch), one connection to the cluster for all.

    ray_pool_scenarios.py ADDRESS WORKDIR     (inside the cluster's loopback-only namespace)

Evaluations (`pertool.evaluate`, the API behind `pertool eval`): `oracle` and `baseline/history`
on the built-in benchmark and the tiny random `hf/` model on its compact set, each with the
local executor and with `executor="ray"` on the cluster, into WORKDIR/<name>-local and
WORKDIR/<name>-ray; the Ray runs of the answerers keep the response cache on (PERTOOL_CACHE_DIR).
The test compares the run directories.

Pool scenarios, what each saw written to WORKDIR/seen.json. Real: Ray, the pool, its replica
actors, the openai-compatible backend they build, and a stub server
(pertool.testing.openai_stub) in this process on the namespace's loopback, which the replicas
reach over HTTP:

- retries: the server refuses the first request (503, Retry-After 0); after `aclose()` the
  pool still counts that retry (metrics.json and the CLI read it then).
- stuck: the server holds the first request for 60 s; with a request bound of 1 s the pool
  kills that replica, starts another and gets the answer there.
- start_timeout: replicas that cannot start in time (a start bound of 1 ms): the error names
  what they ask for, and no replica actor is left running in this (still connected) driver.
- credential: the key's variable is set here but not on the nodes: the replica's error says
  where it is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
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


async def scenarios(url: str, state: dict[str, int]) -> dict[str, Any]:
    from pertool.distributed import RayPool, RaySettings
    from pertool.errors import PertoolError
    from pertool.models.base import Request, Sampling
    from pertool.models.registry import ModelOptions

    request = Request(messages=({"role": "user", "content": "hi"},), sampling=Sampling(max_tokens=4))
    options = ModelOptions(base_url=url, backoff_cap_s=0.1)
    seen: dict[str, Any] = {}

    state["mode"] = 1  # retries: the first request refused once
    pool = RayPool("openai-compatible/m", options, (), RaySettings())
    answer = await pool.complete(request)
    await pool.aclose()
    seen["retries"] = {"text": answer.text, "retries": pool.retries, "reason": pool.last_retry_reason}

    state["mode"] = 2  # stuck: the first request held for 60 s
    pool = RayPool("openai-compatible/m", options, (), RaySettings(request_timeout_s=1.0))
    started = time.monotonic()
    answer = await pool.complete(request)
    seen["stuck"] = {"text": answer.text, "seconds": time.monotonic() - started, "summary": pool.summary()}
    await pool.aclose()
    seen["stuck"]["left"] = until_no_replicas(10)

    state["mode"] = 0
    try:
        RayPool("openai-compatible/m", options, (), RaySettings(replicas=2, replica_cpus=0.5), start_timeout_s=0.001)
        seen["start_timeout"] = {"error": None}
    except PertoolError as exc:
        seen["start_timeout"] = {"error": str(exc)}
    seen["start_timeout"]["left"] = until_no_replicas(10)

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


def evaluations(address: str, work: Path) -> None:
    from pertool import evaluate
    from pertool.training.tiny_model import build_tiny_model

    for name, settings in EVALUATIONS.items():
        if name == "tiny-hf":  # random weights, greedy: deterministic
            settings = {**settings, "model": f"hf/{build_tiny_model(work / 'tiny')}"}
        evaluate(out=work / f"{name}-local", use_cache=False, resamples=0, **settings)
        # one replica: spreading requests over two is the mock server tests' part
        evaluate(out=work / f"{name}-ray", use_cache=name != "tiny-hf", resamples=0, executor="ray",
                 ray_address=address, **settings)  # fmt: skip


def main(address: str, work: str) -> None:
    import ray

    from pertool.testing.openai_stub import Reply, StubServer, chat

    state = {"mode": 0}
    firsts: set[int] = set()  # the modes whose first request came
    lock = threading.Lock()

    def respond(body: Any, _request: Any) -> Reply:
        with lock:
            mode = state["mode"]
            first = mode not in firsts
            firsts.add(mode)
        if first and mode == 1:
            return Reply(503, json={"error": {"message": "busy"}}, headers={"Retry-After": "0"})
        if first and mode == 2:
            return Reply(json=chat("late"), delay_s=60)
        return Reply(json=chat("fine"))

    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    evaluations(address, Path(work))
    with StubServer(respond) as server:
        seen = asyncio.run(scenarios(server.url, state))
    ray.shutdown()
    (Path(work) / "seen.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
