"""Ray in tests, on loopback only, stopping only what the test started.

Ray binds the machine's interface address unless loopback is the only interface it sees, and
test traffic must stay on loopback. `LoopbackNamespace` makes a network namespace of its own
(`unshare -n`, held open by a sleeping process) with loopback up, and runs commands inside it
(`nsenter -n`): a Ray head, a second node, a mock server and `pertool eval` all meet on its
127.0.0.1 and nowhere else. Every process it starts carries a tag in its environment, which Ray
passes down to its own processes (GCS, raylets, workers), so `leftovers()` finds whatever
outlived a test even after re-parenting, and `close()` ends exactly those: never `ray stop`,
which ends every Ray process of the machine. Every process also gets a RAY_TMPDIR of the
namespace's own, removed by `close()`: Ray's session files, and the `ray_current_cluster` that
`ray start --head` writes (the machine's default address for `ray.init("auto")`, which only
`ray stop` resets), never reach /tmp/ray. Every wait has a bound.
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["LoopbackNamespace", "RAY_ENV", "namespace_problem", "ray_command"]

TAG = "PERTOOL_TEST_NAMESPACE"
# RAY_AUTH_MODE: without it a token left in ~/.ray/auth_token makes a second node fail to join.
# OMP_NUM_THREADS: torch on one thread; two spin-wait on each other on 2 shared cores.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}


def namespace_problem() -> str | None:
    """Why a loopback-only namespace cannot be made here (None: it can)."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    try:
        proc = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True,
                              text=True, timeout=10)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "`unshare -n` did not finish within 10 s"
    if proc.returncode != 0:
        return f"`unshare -n` is not permitted here: {proc.stderr.strip()[:200]}"
    return None


def ray_command(*args: str) -> list[str]:
    """The `ray` command line of this interpreter's Ray."""
    return [sys.executable, "-c", "from ray.scripts.scripts import main; main()", *args]


class LoopbackNamespace:
    """A network namespace with only loopback, and the processes a test runs in it."""

    def __init__(self, startup_s: float = 10.0):
        self.tag = uuid.uuid4().hex
        # short: Ray's unix socket paths (at most 107 bytes) are made under it
        self.ray_tmpdir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self._children: list[subprocess.Popen[str]] = []
        self._holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE, text=True, start_new_session=True, env=self.env(),
        )  # fmt: skip
        assert self._holder.stdout is not None
        if read_line(self._holder.stdout, startup_s).strip() != "ready":
            self.close()
            raise RuntimeError("the loopback namespace did not come up")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **RAY_ENV, TAG: self.tag, "RAY_TMPDIR": str(self.ray_tmpdir), **(extra or {})}

    def command(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self._holder.pid), "-n", *argv]

    def start(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        """A child process in the namespace, in its own process group; ended by `close()`."""
        kwargs.setdefault("env", self.env())
        proc = subprocess.Popen(self.command(argv), text=True, start_new_session=True, **kwargs)
        self._children.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("env", self.env())
        return subprocess.run(self.command(argv), text=True, capture_output=True, timeout=timeout, **kwargs)

    def start_until(self, argv: Sequence[str], says: str, within_s: float = 60.0,
                    **kwargs: Any) -> subprocess.Popen[str]:  # fmt: skip
        """A child (stdout and stderr together) once a line of its output contains `says`."""
        proc = self.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
        lines = _drain(proc)
        deadline = time.monotonic() + within_s
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:  # it exited
                break
            seen.append(line)
            if says in line:
                return proc
        raise RuntimeError(f"{' '.join(argv[:4])} did not say {says!r}:\n" + "".join(seen[-30:]))

    def start_ray_node(self, *args: str, within_s: float = 60.0) -> subprocess.Popen[str]:
        """`ray start ARGS --block` (a head, or a node joining one), once it says it runs."""
        argv = ray_command("start", *args, "--block", "--disable-usage-stats")
        return self.start_until(argv, "Ray runtime started", within_s)

    def leftovers(self) -> list[int]:
        """Processes carrying this namespace's tag, other than its holder (Ray's included)."""
        found = []
        needle = f"{TAG}={self.tag}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self._holder.pid:
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if needle in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
        return found

    def stop(self, proc: subprocess.Popen[str], within_s: float = 5.0) -> None:
        """SIGTERM to the child itself (a `ray start --block` then stops its node's processes;
        signalling them all at once makes it hang), then SIGKILL to its process group. A head
        stops in 1-3 s, but one that holds Ray Data's detached actors (its stats and
        autoscaling actors outlive the job that made them) takes over 15 s: not waited for."""
        for sig, wait in ((signal.SIGTERM, within_s), (signal.SIGKILL, 5.0)):
            try:
                os.kill(proc.pid, sig) if sig == signal.SIGTERM else os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> list[int]:
        """Stop every child, then kill what is left of them; returns those leftovers' pids (a
        test asserts there were none: Ray stopped all it started)."""
        for proc in reversed(self._children):
            self.stop(proc)
        graceful = time.monotonic() + 5.0  # a node's processes end shortly after its `ray start`
        while self.leftovers() and time.monotonic() < graceful:
            time.sleep(0.1)
        forced: set[int] = set()
        deadline = time.monotonic() + 10.0
        while (left := self.leftovers()) and time.monotonic() < deadline:
            forced.update(left)
            for pid in left:  # what outlived its parent: tagged, so ours
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        self._holder.kill()
        self._holder.wait(timeout=5)
        shutil.rmtree(self.ray_tmpdir, ignore_errors=True)
        for proc in (*self._children, self._holder):
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        return sorted(forced)

    def __enter__(self) -> LoopbackNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """A child's output lines as they come (None at its end), read by a thread so the pipe
    never fills."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_line(stream: IO[str], within_s: float) -> str:
    """One line of a child's output, or "" when none comes within `within_s`."""
    ready, _, _ = select.select([stream], [], [], max(0.0, within_s))
    return stream.readline() if ready else ""
