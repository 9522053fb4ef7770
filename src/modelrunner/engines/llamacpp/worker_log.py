"""What a worker writes to stderr (llama.cpp's log), read in batches and split into lines only when
someone reads it.

llama.cpp writes about nine lines per request, each a write of its own. Read as they came (a task on a
stream reader, or even a protocol), each woke the server: 0.2 ms of its CPU per request, as much as the
request's own routing. Instead the pipe is polled, every POLL_MIN_S while the worker writes and less
often while it is quiet; a pipe enlarged to PIPE_BYTES holds far more than llama.cpp writes between two
polls, so the worker never waits on a full pipe."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os

logger = logging.getLogger(__name__)

POLL_MIN_S = 0.05
POLL_MAX_S = 0.2
PIPE_BYTES = 1024 * 1024
"""Asked of Linux for the pipe (its default for unprivileged processes is the most it grants); elsewhere
the pipe keeps the system's size."""
_READ_BYTES = 256 * 1024

LOG_LINES_KEPT = 400
LOG_BYTES_KEPT = 256 * 1024
"""The raw bytes kept, from which the last LOG_LINES_KEPT lines are cut when read."""


class WorkerLog:
    """The read end of a worker's stderr pipe, polled on the event loop until the worker and everything
    it started have closed their end (the worker exited), or `close` is called."""

    def __init__(self, read_fd: int, label: str, *, max_bytes: int = LOG_BYTES_KEPT) -> None:
        self.label = label
        self.max_bytes = max_bytes
        self._fd: int | None = read_fd
        os.set_blocking(read_fd, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; the default size elsewhere
            fcntl.fcntl(read_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._loop = asyncio.get_running_loop()
        self._blocks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._is_cut = False
        self._unfinished_line = b""
        self._interval_s = POLL_MIN_S
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(self._interval_s, self._poll)

    def _poll(self) -> None:
        is_open = self.read_available()
        if is_open:
            self._timer = self._loop.call_later(self._interval_s, self._poll)

    def read_available(self) -> bool:
        """Read what the pipe holds now (every poll, and once more before the log is read after the
        worker exited); False once the pipe is closed."""
        if self._fd is None:
            return False
        has_read = False
        while True:
            try:
                data = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.close()
                return False
            self.data_received(data)
            has_read = True
        self._interval_s = POLL_MIN_S if has_read else min(self._interval_s * 2, POLL_MAX_S)
        return True

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def is_closed(self) -> bool:
        return self._fd is None

    def data_received(self, data: bytes) -> None:
        if len(data) > self.max_bytes:
            data, self._is_cut = data[-self.max_bytes:], True
        self._blocks.append(data)
        self._size += len(data)
        while self._size > self.max_bytes:
            self._size -= len(self._blocks.popleft())
            self._is_cut = True
        if logger.isEnabledFor(logging.DEBUG):
            self._mirror(data)

    def _mirror(self, data: bytes) -> None:
        *lines, self._unfinished_line = (self._unfinished_line + data).split(b"\n")
        for line in lines:
            logger.debug("[%s] %s", self.label, line.decode("utf-8", "replace").rstrip())

    @property
    def lines(self) -> list[str]:
        """The last lines, oldest first, up to what the pipe holds now; a line cut by the byte bound is
        left out."""
        self.read_available()
        lines = b"".join(self._blocks).decode("utf-8", "replace").split("\n")
        if self._is_cut:
            lines = lines[1:]
        if lines and not lines[-1]:
            lines.pop()
        return [line.rstrip() for line in lines[-LOG_LINES_KEPT:]]
