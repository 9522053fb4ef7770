"""The file side of a blob download: the `.incomplete` file a pull resumes from, and the thread that
writes it while the network side keeps reading."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

WRITE_QUEUE_BATCHES = 64


@dataclass
class PartialBlob:
    """A blob being downloaded into its `.incomplete` file, with the running hash of its bytes."""

    path: Path
    hasher: Any = field(default_factory=hashlib.sha256)
    hashed_bytes: int = 0

    def size_on_disk(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def catch_up(self, offset: int) -> None:
        """Make the hash cover exactly the first `offset` bytes on disk (after a resume)."""
        if self.hashed_bytes == offset:
            return
        self.hasher, self.hashed_bytes = hashlib.sha256(), 0
        with self.path.open("rb") as handle:
            while self.hashed_bytes < offset:
                chunk = handle.read(min(4 * 1024 * 1024, offset - self.hashed_bytes))
                if not chunk:
                    break
                self.hasher.update(chunk)
                self.hashed_bytes += len(chunk)

    def open(self, offset: int) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if offset == 0:
            self.hasher, self.hashed_bytes = hashlib.sha256(), 0
            return self.path.open("wb")
        handle = self.path.open("r+b")
        handle.truncate(offset)
        handle.seek(offset)
        return handle

    def hash(self, chunk: bytes | memoryview) -> None:
        self.hasher.update(chunk)
        self.hashed_bytes += len(chunk)


class DiskWriteFailed(Exception):
    """The disk refused a blob's bytes (full, read-only...); the OSError is the cause. Not an
    OSError itself, so that network error handling never mistakes it for a dropped connection."""


class DiskWriter:
    """Writes a blob's batches on its own thread, in order, reporting the bytes on disk."""

    def __init__(self, handle: IO[bytes], report: Callable[[int], None], offset: int) -> None:
        self._handle = handle
        self._report = report
        self._queue: queue.Queue[bytearray | memoryview | None] = queue.Queue(maxsize=WRITE_QUEUE_BATCHES)
        self._error: BaseException | None = None
        self.offset = offset
        self._thread = threading.Thread(target=self._run, name="blob-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._handle.write(data)
                self.offset += len(data)
                self._report(self.offset)
            except BaseException as exc:  # handed to the reader thread in put/close
                self._error = exc

    def put(self, data: bytearray | memoryview) -> None:
        self._raise_if_failed()
        self._queue.put(data)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise DiskWriteFailed(str(self._error)) from self._error

    def close(self) -> int:
        """Wait for every batch to be on disk; the bytes written in all."""
        self._queue.put(None)
        self._thread.join()
        self._raise_if_failed()
        return self.offset
