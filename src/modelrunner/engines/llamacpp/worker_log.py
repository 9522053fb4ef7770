"""What a worker writes to stderr (llama.cpp's log), kept as it arrives and split into lines only when
someone reads it.

llama.cpp writes several lines per request. Read through a stream reader by a task, line by line, they
cost the server about as much CPU as the request itself; kept here as raw blocks by a protocol, each
costs one append."""

from __future__ import annotations

import asyncio
import collections
import logging

logger = logging.getLogger(__name__)

LOG_LINES_KEPT = 400
LOG_BYTES_KEPT = 256 * 1024
"""The raw bytes kept, from which the last LOG_LINES_KEPT lines are cut when read."""


class WorkerLog(asyncio.Protocol):
    """The read end of a worker's stderr pipe. `closed` resolves once the worker and everything it
    started have closed their end (the worker exited)."""

    def __init__(self, label: str, *, max_bytes: int = LOG_BYTES_KEPT) -> None:
        self.label = label
        self.max_bytes = max_bytes
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._blocks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._is_cut = False
        self._unfinished_line = b""

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

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def lines(self) -> list[str]:
        """The last lines, oldest first; a line cut by the byte bound is left out."""
        lines = b"".join(self._blocks).decode("utf-8", "replace").split("\n")
        if self._is_cut:
            lines = lines[1:]
        if lines and not lines[-1]:
            lines.pop()
        return [line.rstrip() for line in lines[-LOG_LINES_KEPT:]]
