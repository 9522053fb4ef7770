"""What the batch routes use: the store and the runner behind one object, opened and closed by the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from modelrunner.batches.records import BatchRecord, NewRequest
from modelrunner.batches.runner import BatchObserver, BatchRequestHandler, BatchRunner
from modelrunner.batches.store import BatchStore


class BatchService:
    def __init__(self, store: BatchStore, runner: BatchRunner, *, expiry_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.runner = runner
        self._expiry_s = expiry_s
        self._clock = clock

    @classmethod
    async def open(cls, root: Path, handler: BatchRequestHandler, *, expiry_s: float, retention_s: float,
                   concurrency: int, observer: BatchObserver | None = None) -> BatchService:
        """Open the store and start running what is unfinished in it (batches left by a crash included)."""
        store = BatchStore(root)
        await store.open()
        runner = BatchRunner(store, handler, concurrency=concurrency, retention_s=retention_s, observer=observer)
        await runner.start()
        return cls(store, runner, expiry_s=expiry_s)

    async def close(self) -> None:
        await self.runner.close()
        await self.store.close()

    async def create(self, requests: list[NewRequest]) -> BatchRecord:
        now = self._clock()
        record = await self.store.create(requests, now=now, expires_at=now + self._expiry_s)
        self.runner.wake()
        return record

    async def cancel(self, batch_id: str) -> BatchRecord:
        record = await self.store.cancel(batch_id, now=self._clock())
        self.runner.wake()
        return record
