"""One writer at a time: an exclusive `flock` on a lock file.

The kernel drops the lock when its holder exits, however it exits (kill -9 included), so a
crashed run never leaves a directory locked. The lock file itself stays (removing it would let a
third process lock a new file while a second still holds the old one); it holds the holder's pid
for the error message. Without `fcntl` (Windows) locking is skipped.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from pertool.errors import PertoolError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a lock file that is a symlink could aim anywhere


class FileLock:
    def __init__(self, file: Path):
        self.file = file
        self.created = False  # this process made the lock file (so it may remove it on discard)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False when another process (or handle) does."""
        if self._fd is not None:
            return True
        try:
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
                self.created = True
            except FileExistsError:
                fd = os.open(self.file, os.O_RDWR | _NOFOLLOW)
        except OSError as exc:  # a directory, a dangling link, no permission: not ours to fix
            raise PertoolError(f"cannot lock {self.file} ({exc.strerror}); remove it if no pertool "
                               "process is running") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PertoolError(f"cannot lock {self.file}: not a regular file; remove it")
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # BlockingIOError: held elsewhere
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire_now(self, busy: str) -> None:
        """Take the lock or raise PertoolError(`busy`, with the holder's pid)."""
        if not self.try_acquire():
            raise PertoolError(f"{busy} (pid {self.holder()})")

    def acquire(self, timeout_s: float, busy: str, poll_s: float = 0.1) -> None:
        """Wait for the lock, at most `timeout_s` seconds."""
        deadline = time.monotonic() + timeout_s
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise PertoolError(f"{busy} (pid {self.holder()}); gave up after {timeout_s:g} s")
            time.sleep(poll_s)

    def holder(self) -> str:
        try:
            return self.file.read_text(encoding="ascii", errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self, *, remove: bool = False) -> None:
        """Let go; `remove` also deletes the lock file when this process created it (cleanup of
        a run that wrote nothing)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if remove and self.created:
            self.file.unlink(missing_ok=True)
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
