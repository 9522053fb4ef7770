"""One writer at a time, for real: a lock that excludes the other threads of this process and every
other process that shares the store directory.

`filelock`'s locks count re-entries per lock object, so two threads of one process (the `to_thread`
workers) both "hold" it and read-modify-write `models.json` in parallel. Here a thread lock is taken
first, then `flock` on a file descriptor opened for this acquisition only (flock is per open file, so
a fresh descriptor is never re-entrant). Waits are bounded: a stuck holder becomes an error, not a hang.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from modelrunner.core.errors import Overloaded

DEFAULT_WAIT_S = 120.0
_POLL_S = 0.005


class StoreBusy(Overloaded):
    """Another writer held the store's lock longer than we wait; the operation did not start."""


class InterProcessLock:
    """Exclusive, non-reentrant, bounded: `with lock:` around every read-modify-write of a shared file."""

    def __init__(self, path: Path, *, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.path = path
        self.wait_s = wait_s
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> InterProcessLock:
        deadline = time.monotonic() + self.wait_s
        if not self._thread_lock.acquire(timeout=self.wait_s):
            raise StoreBusy(f"the store is busy: another writer held {self.path.name} for {self.wait_s:.0f}s")
        try:
            self._fd = self._locked_descriptor(deadline)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._thread_lock.release()

    def _locked_descriptor(self, deadline: float) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(f"the store is busy: another process held {self.path.name} "
                                        f"for {self.wait_s:.0f}s") from None
                    time.sleep(_POLL_S)
        except BaseException:
            os.close(fd)
            raise
