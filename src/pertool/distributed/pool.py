"""`RayPool`: a backend whose requests are answered by replica actors on Ray.

Each replica builds the real backend itself from the model spec (`create_model(spec, options,
samples)`; the samples go through the object store once, not once per replica). The pool
stands in for that backend on the driver: the same `identity()` (so the response cache is the
local run's), `cacheable` (answerers that read the data are never cached, as locally), `name`,
`model`, `context_window`, and `retries` summed over every replica that ever ran.

A request goes to the live replica with the fewest requests in flight. A replica that dies (its
worker killed, its node lost) is replaced, up to `max_restarts` times in all, and each request
it held is sent again to another replica, up to `attempts` sends in all: the driver writes an
answer only once it has one, so nothing is lost and nothing is written twice. A replica that
holds a request past `request_timeout_s` counts as stuck: it is killed and replaced the same way.
The concurrency budget is the caller's (the runner's --max-concurrency gate): the pool adds no
queue of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pertool.distributed.cluster import RaySettings, connect, disconnect, import_ray
from pertool.distributed.replica import Replica
from pertool.errors import BackendError, PertoolError
from pertool.models.base import Completion, Request
from pertool.models.registry import ModelOptions, deadline_s
from pertool.schema import Sample

__all__ = ["RayPool"]

START_TIMEOUT_S = 600.0  # building a replica: a local model's load, a managed server's start
CLOSE_TIMEOUT_S = 30.0
# One request on a replica whose backend has no deadline of its own (hf/, answerers): generous,
# since a local model's batch may take minutes; RaySettings.request_timeout_s overrides it.
NO_DEADLINE_REQUEST_S = 3600.0


@dataclass
class _Member:
    actor: Any
    number: int  # the n-th replica started, for messages
    in_flight: int = 0
    answered: int = 0
    retries: int = 0
    info: dict[str, Any] = field(default_factory=dict)


class RayPool:
    """A `Backend` over `settings.replicas` Ray actors, each owning one `create_model(spec,
    options, samples)`. Built synchronously (Ray started or joined, every replica up, or one
    clear error); `aclose()` stops the replicas and the Ray instance it started, nothing else.

    `attempts`: how often one request is sent before its replicas' deaths make it a per-sample
    error; `max_restarts`: replicas started in place of dead (or stuck) ones (default: 2 x
    replicas)."""

    def __init__(self, spec: str, options: ModelOptions, samples: Sequence[Sample] = (),
                 settings: RaySettings | None = None, *, attempts: int = 3, max_restarts: int | None = None,
                 start_timeout_s: float = START_TIMEOUT_S):  # fmt: skip
        self.settings = settings or RaySettings()
        self.attempts = max(1, attempts)
        self.restarts_left = 2 * self.settings.replicas if max_restarts is None else max_restarts
        self.start_timeout_s = start_timeout_s
        self.spec, self.options = spec, options
        self.ray = import_ray()
        self._started_ray = connect(self.settings.address)
        self._members: list[_Member] = []
        self._everyone: list[_Member] = []  # every replica started, for the summary
        self._gone: list[_Member] = []
        self._started = 0
        self._starting: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None  # made on first use, in the running loop
        self.last_retry_reason = ""
        try:
            if self.settings.address is None:  # a local Ray's resources are all there will be
                self._check_fits()
            self._samples = self.ray.put(list(samples))
            self._actor_class = self.ray.remote(Replica)
            members = [self._new_member() for _ in range(self.settings.replicas)]
            self._members.extend(members)  # before waiting: a failed start stops every one of them
            try:
                infos = self.ray.get([m.actor.describe.remote() for m in members], timeout=start_timeout_s)
            except self.ray.exceptions.GetTimeoutError:
                raise PertoolError(self._start_timeout()) from None
            for member, info in zip(members, infos):
                if "error" in info:
                    raise info["error"]
                member.info = info
        except BaseException as exc:
            self._stop_all()
            if isinstance(exc, PertoolError) or not isinstance(exc, Exception):
                raise
            raise PertoolError(f"the Ray replicas of {spec} did not start: {_first_line(exc)}") from None
        first = self._members[0].info
        self.name, self.model = first["name"], first["model"]
        self.context_window: int | None = first["context_window"]
        self._identity: dict[str, Any] = first["identity"]
        self.cacheable: bool = first["cacheable"]
        bound = self.settings.request_timeout_s
        self.request_timeout_s = bound or request_bound(options, first["deadline_s"])

    def identity(self) -> dict[str, Any]:
        return self._identity

    @property
    def retries(self) -> int:
        return sum(m.retries for m in self._everyone)  # the dead and the stopped included

    def replica_pids(self) -> list[int]:
        """The worker processes of the live replicas (for tests and logs)."""
        return [m.info["pid"] for m in self._members if m.info]

    def summary(self) -> str:
        """One line: who answered how much, on how many nodes, and how many replicas died."""
        members = self._everyone
        served = [m for m in members if m.answered]
        nodes = {m.info.get("node") for m in served}
        each = ", ".join(f"replica {m.number}: {m.answered} on node {str(m.info.get('node'))[:8]}"
                         for m in served)  # fmt: skip
        died = f"; {len(self._gone)} replica(s) died and were replaced or retired" if self._gone else ""
        total = sum(m.answered for m in members)
        return (f"ray executor: {total} requests answered by {len(served)} replicas on {len(nodes)} nodes "
                f"({each}){died}")  # fmt: skip

    async def complete(self, request: Request) -> Completion:
        lost: list[str] = []
        while len(lost) < self.attempts:
            member = await self._least_loaded()
            member.in_flight += 1
            try:
                result = await asyncio.wait_for(_awaitable(member.actor.complete.remote(request)),
                                                self.request_timeout_s)  # fmt: skip
            except self.ray.exceptions.RayActorError as exc:  # the replica is gone, not the request
                lost.append(f"replica {member.number}: {_first_line(exc)}")
                self._replace(member)
                continue
            except asyncio.TimeoutError:  # alive but stuck: it holds a slot of the budget forever
                lost.append(f"replica {member.number}: no answer within {self.request_timeout_s:g} s")
                self._replace(member)
                continue
            finally:
                member.in_flight -= 1
            member.retries = max(member.retries, int(result.get("retries") or 0))
            if result.get("last_retry_reason"):
                self.last_retry_reason = str(result["last_retry_reason"])
            if "error" in result:
                raise result["error"]
            completion: Completion = result["completion"]
            member.answered += 1
            return completion
        raise BackendError(f"the Ray replicas answering this request died or stalled {len(lost)} times "
                           f"(last: {lost[-1]})")  # fmt: skip

    async def aclose(self) -> None:
        for task in self._starting:
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        closing = [m.actor.aclose.remote() for m in self._members]
        if closing:  # let each backend close (a managed server stops); bounded, then killed
            await asyncio.wait([asyncio.ensure_future(ref) for ref in closing], timeout=CLOSE_TIMEOUT_S)
        self._stop_all()

    # --- replicas -------------------------------------------------------------------------

    def _new_member(self) -> _Member:
        self._started += 1
        s = self.settings
        resources: dict[str, Any] = {"scheduling_strategy": "SPREAD", "max_restarts": 0}
        if s.replica_cpus is not None:
            resources["num_cpus"] = s.replica_cpus
        if s.replica_gpus is not None:
            resources["num_gpus"] = s.replica_gpus
        actor = self._actor_class.options(**resources).remote(self.spec, self.options, self._samples)
        member = _Member(actor=actor, number=self._started)
        self._everyone.append(member)
        return member

    async def _least_loaded(self) -> _Member:
        """The live replica with the fewest requests in flight (the earliest on a tie); waits for
        a replacement when none is live, and fails the run when none can come."""
        while True:
            if self._members:
                return min(self._members, key=lambda m: m.in_flight)
            if not any(not task.done() for task in self._starting):
                raise BackendError("every Ray replica died and no more may be started (the pool's "
                                   f"restarts are used up); {_resume_hint()}", fatal=True)  # fmt: skip
            await self._wait_for_change()

    def _replace(self, member: _Member) -> None:
        """Called by every request that saw `member` die; the first one replaces it."""
        if member not in self._members:
            return
        self._members.remove(member)
        self._gone.append(member)
        _kill(self.ray, member.actor)
        if self.restarts_left > 0:
            self.restarts_left -= 1
            task = asyncio.get_running_loop().create_task(self._start_replacement())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        self._notify()

    async def _start_replacement(self) -> None:
        member = self._new_member()
        added = False
        try:
            described = _awaitable(member.actor.describe.remote())
            info = await asyncio.wait_for(described, timeout=self.start_timeout_s)
            if "identity" in info:
                member.info = info
                self._members.append(member)
                added = True
        except (asyncio.TimeoutError, self.ray.exceptions.RayActorError):
            pass  # it did not come up: the next waiter sees none
        finally:  # a timeout, a death, an error, or aclose() cancelling the wait: never left running
            if not added:
                _kill(self.ray, member.actor)
            self._notify()

    async def _wait_for_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        await self._changed.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _check_fits(self) -> None:
        """A local Ray's resources are all there will be: replicas that cannot all fit would
        wait for the start timeout, so they are refused at once."""
        missing = self.settings.shortfall(self.ray.cluster_resources())
        if missing:
            raise PertoolError(f"the replicas do not fit the local Ray instance: {missing} "
                               "(give --ray-address of a cluster that has them)")  # fmt: skip

    def _start_timeout(self) -> str:
        """Why replicas may not have started: what each asks for, and what the cluster lacks."""
        held = self.settings.held()
        asks = " and ".join(f"{v:g} {k}" for k, v in held.items() if v) or "1 free CPU to be placed"
        missing = self.settings.shortfall(self.ray.cluster_resources())
        if missing is None:
            free = self.ray.available_resources()
            missing = (f"free now: {free.get('CPU', 0):g} CPUs, {free.get('GPU', 0):g} GPUs "
                       "(`ray status` says more)")  # fmt: skip
        return (f"the Ray replicas of {self.spec} did not start within {self.start_timeout_s:g} s "
                f"({self.settings.replicas} x {asks}): {missing}")  # fmt: skip

    def _stop_all(self) -> None:
        for member in self._members:
            _kill(self.ray, member.actor)
        self._members.clear()
        disconnect(self._started_ray)
        self._started_ray = False


def request_bound(options: ModelOptions, backend_deadline_s: float | None) -> float:
    """How long one request may take on a replica: every attempt the backend may make (each
    within its deadline) and the backoff between them, with a minute to spare; a backend with
    no deadline of its own gets NO_DEADLINE_REQUEST_S."""
    if backend_deadline_s is None:
        return NO_DEADLINE_REQUEST_S
    attempts = max(1, options.max_attempts)
    return attempts * (max(backend_deadline_s, deadline_s(options)) + options.backoff_cap_s) + 60.0


def _awaitable(ref: Any) -> Any:
    """A Ray ObjectRef as an asyncio future (so `wait_for` can bound it)."""
    return asyncio.ensure_future(ref)


def _kill(ray: Any, actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # noqa: BLE001, S110 - already gone
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _resume_hint() -> str:
    return "finished samples are saved; resume the run once the cluster is healthy"
