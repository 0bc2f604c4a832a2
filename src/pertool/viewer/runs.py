"""The runs directory as `pertool view` shows it: every run directory under RUNS_DIR (its
children, and their children when a child holds no run itself, as `pertool ablate` writes), each
as one leaderboard row, recomputed only when one of its files changed.

A row's numbers come from `report.compare` (`load_runs`, `build_leaderboard`): the same metrics,
intervals and paired-bootstrap marks as `pertool compare` with its defaults, per benchmark and
scoring mode. A run without metrics.json is in progress (its writer holds .lock) or stopped: it
is scored on the samples answered so far (`load_runs(partial=True)`) and takes no part in the
paired tests, which rank finished runs only. Anything that cannot be read (no config.json, a
malformed line, a benchmark that moved) is a row with its problem, never an error of the server.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pertool.report.compare import Leaderboard, RunScores, build_leaderboard, load_runs, metric_titles
from pertool.runner.rundir import CONFIG, ERRORS, LOCK, METRICS, PREDICTIONS, SCORES

__all__ = ["MAX_FILE_BYTES", "MAX_RUNS", "RunsIndex", "lock_held", "run_signature"]

MAX_RUNS = 1000  # run directories listed; more are left out, with a note
MAX_ENTRIES = 5000  # directory entries looked at per directory scanned
MAX_FILE_BYTES = 512 * 1024**2  # a run file larger than this is shown as a problem, not read
RUNNING_REFRESH_S = 0.5  # a run being written is re-scored at most this often
_FILES = (CONFIG, PREDICTIONS, ERRORS, METRICS, SCORES)
try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def lock_held(run: Path) -> bool:
    """Whether a pertool process is writing the run now (holds .lock), tested with a shared
    non-blocking flock on a read-only handle: nothing is created or written."""
    if fcntl is None:
        return False
    try:
        fd = os.open(run / LOCK, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass
class RunState:
    name: str
    path: Path
    signature: tuple[Any, ...]
    status: str  # "finished", "running", "stopped", "problem"
    checked: float = 0.0  # time.monotonic() of the computation
    scores: RunScores | None = None
    total: int | None = None
    done: int = 0
    failed: int = 0
    problem: str = ""
    config: dict[str, Any] = field(default_factory=dict)


class RunsIndex:
    """The rows of RUNS_DIR, kept up to date by `rows()` (thread-safe; one refresh at a time)."""

    def __init__(self, root: Path):
        self.root = root
        self._states: dict[str, RunState] = {}
        self._boards: dict[tuple[Any, ...], tuple[tuple[Any, ...], Leaderboard | None, str]] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []

    # --- the directory ------------------------------------------------------------------------

    def scan(self) -> dict[str, Path]:
        """Run directory name (relative to the root, "/"-separated) -> path. Only entries inside
        the root are listed: a link that leads outside it is left out."""
        found: dict[str, Path] = {}
        root = self.root.resolve()
        for child in _entries(self.root):
            if not _inside(child, root):
                continue
            if (child / CONFIG).exists():
                found[child.name] = child
                continue
            for grandchild in _entries(child):  # `pertool ablate` writes a run per setting
                if _inside(grandchild, root) and (grandchild / CONFIG).exists():
                    found[f"{child.name}/{grandchild.name}"] = grandchild
            if len(found) >= MAX_RUNS:
                break
        many = len(found) >= MAX_RUNS
        self.notes = [f"more than {MAX_RUNS} runs: only the first {MAX_RUNS} are shown"] if many else []
        return dict(itertools.islice(sorted(found.items()), MAX_RUNS))

    def path_of(self, name: str) -> Path | None:
        """The run directory a URL names, only when the scan lists that exact name."""
        return self.scan().get(name)

    # --- rows ---------------------------------------------------------------------------------

    def rows(self) -> dict[str, Any]:
        with self._lock:
            found = self.scan()
            for gone in set(self._states) - set(found):
                del self._states[gone]
            for name, path in found.items():
                self._states[name] = self._refresh(name, path, self._states.get(name))
            groups = self._leaderboards()
        return {"root": str(self.root), "runs": [self._row(s, groups) for s in self._states.values()],
                "notes": self.notes, "time": time.time()}  # fmt: skip

    def _refresh(self, name: str, path: Path, old: RunState | None) -> RunState:
        running = lock_held(path)
        signature = (run_signature(path), running)
        if old is not None and old.signature == signature:
            return old
        if old is not None and running and time.monotonic() - old.checked < RUNNING_REFRESH_S:
            return old  # being written: re-scored at most every RUNNING_REFRESH_S
        state = RunState(name, path, signature, "problem", checked=time.monotonic())
        try:
            _load(state, running)
        except Exception as exc:  # noqa: BLE001 - any unreadable run is a row with its problem
            state.status, state.scores = "problem", None
            state.problem = _one_line(exc)
        return state

    def _leaderboards(self) -> dict[tuple[Any, ...], tuple[Leaderboard | None, str]]:
        """Per benchmark and scoring mode: the leaderboard of its finished runs (recomputed when
        one of them changed)."""
        members: dict[tuple[Any, ...], list[RunState]] = {}
        for state in self._states.values():
            if state.status == "finished" and state.scores is not None:
                members.setdefault(_group(state), []).append(state)
        out = {}
        for key, states in members.items():
            signature = tuple((s.name, s.signature) for s in states)
            cached = self._boards.get(key)
            if cached is None or cached[0] != signature:
                try:
                    board: Leaderboard | None = build_leaderboard([s.scores for s in states if s.scores])
                    problem = ""
                except Exception as exc:  # noqa: BLE001 - e.g. no run defines the headline metric
                    board, problem = None, _one_line(exc)
                cached = (signature, board, problem)
                self._boards[key] = cached
            out[key] = (cached[1], cached[2])
        for key in set(self._boards) - set(out):
            del self._boards[key]
        return out

    def _row(self, state: RunState, groups: dict[tuple[Any, ...], tuple[Leaderboard | None, str]],
             ) -> dict[str, Any]:  # fmt: skip
        config = state.config
        row: dict[str, Any] = {
            "name": state.name, "status": state.status, "problem": state.problem,
            "benchmark": str(config.get("benchmark", "")), "model": str(config.get("model", "")),
            "compat": str(config.get("compat") or ""),
            "profile_view": str(config.get("profile_view") or "all"),
            "done": state.done, "total": state.total, "failed": state.failed,
            "metrics": [], "headline": None, "rank": None, "test": None, "notes": [],
        }  # fmt: skip
        scores = state.scores
        if scores is None:
            return row
        titles = metric_titles(scores.kind)
        board, problem = groups.get(_group(state), (None, ""))
        own = [k for k in scores.kind.metric_tables[0] if scores.metrics.get(k) is not None]
        columns = board.metrics if board else own
        row["headline"] = board.metric if board else scores.kind.headline
        row["n"] = scores.n
        row["metrics"] = [{"key": k, "title": titles.get(k, k), "value": scores.metrics.get(k),
                           "interval": scores.intervals.get(k)} for k in columns]  # fmt: skip
        if problem:
            row["notes"].append(problem)
        if board is not None and state.status == "finished":
            index = next(i for i, r in enumerate(board.runs) if r is scores)
            row["rank"] = index + 1
            test = board.tests[index]
            if test is not None:
                row["test"] = {"shared": test.shared, "difference": test.difference, "low": test.low,
                               "high": test.high, "p": test.p_value, "significant": test.significant,
                               "best": board.runs[0].name,
                               "metric": titles.get(board.metric, board.metric)}  # fmt: skip
        if scores.answered_line and state.status == "finished" and scores.no_answer:
            row["notes"].append(scores.answered_line)
        return row


def _load(state: RunState, running: bool) -> None:
    from pertool.runner.run import load_config, select_samples
    from pertool.runner.rundir import RunDir

    path = state.path
    for name in _FILES:
        file = path / name
        if file.exists() and file.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{name} is {file.stat().st_size} bytes, more than the {MAX_FILE_BYTES} "
                             "the viewer reads")  # fmt: skip
    run = RunDir.open(path)
    config = load_config(run)
    state.config = config.model_dump(mode="json")
    samples = select_samples(config)
    ids = {s.id for s in samples}
    records = run.finished()
    state.total, state.done = len(samples), len(ids & set(records))
    state.failed = len(run.failed_ids() - set(records))
    finished = (path / METRICS).is_file() and not running
    state.status = "finished" if finished else "running" if running else "stopped"
    if finished or state.done:
        state.scores = load_runs([path], partial=not finished)[0]
        state.scores.name = state.name


def _group(state: RunState) -> tuple[Any, ...]:
    return (state.config.get("benchmark"), state.config.get("compat") or "")


def run_signature(path: Path) -> tuple[Any, ...]:
    out: list[tuple[int, int] | None] = []
    for name in _FILES:
        try:
            info = (path / name).stat()
            out.append((info.st_mtime_ns, info.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def _entries(directory: Path) -> list[Path]:
    """The directories in `directory` (hidden ones left out), sorted; at most MAX_ENTRIES looked at."""
    try:
        with os.scandir(directory) as it:
            entries = list(itertools.islice(it, MAX_ENTRIES))
    except OSError:
        return []
    out = []
    for entry in entries:
        try:
            if not entry.name.startswith(".") and entry.is_dir():
                out.append(Path(entry.path))
        except OSError:
            continue
    return sorted(out)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]
