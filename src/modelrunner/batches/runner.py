"""Runs stored batch requests in the background: a bounded number at once, oldest batch first, each at
background priority through the handler the server provides; settles canceled and expired batches and
deletes ended ones past their retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson

from modelrunner.batches.records import CANCELED, CANCELING, EXPIRED, PendingRequest
from modelrunner.batches.store import BatchStore

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0
PURGE_INTERVAL_S = 3600.0
_CANCELED_RESULT = orjson.dumps({"type": CANCELED})
_EXPIRED_RESULT = orjson.dumps({"type": EXPIRED})


class BatchRequestHandler(Protocol):
    """Generation for one batch request, provided by the server (which owns the Messages path): returns
    `(outcome, result JSON)`, succeeded or errored. It passes `on_preempt` to the scheduler, which calls it
    when an interactive request needs the slot; the runner then cancels the generation."""

    def run(self, params_json: bytes, on_preempt: Callable[[], None]) -> Awaitable[tuple[str, bytes]]: ...


class Preemption:
    """The link between the scheduler's preemption call and the task running one generation."""

    def __init__(self) -> None:
        self.happened = False
        self.task: asyncio.Task[tuple[str, bytes]] | None = None

    def trigger(self) -> None:
        self.happened = True
        if self.task is not None:
            self.task.cancel()


class BatchObserver(Protocol):
    def batch_outcomes(self, outcome: str, count: int) -> None: ...

    def batch_preempted(self) -> None: ...


class BatchRunner:
    def __init__(self, store: BatchStore, handler: BatchRequestHandler, *, concurrency: int, retention_s: float,
                 observer: BatchObserver | None = None, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._handler = handler
        self._concurrency = max(1, concurrency)
        self._retention_s = retention_s
        self._observer = observer
        self._clock = clock
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._last_purge_monotonic = float("-inf")

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run_forever())

    async def close(self) -> None:
        """Stop at once: requests still running get no result and run again after a restart."""
        tasks = [task for task in (self._loop_task, *self._running.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    def wake(self) -> None:
        """Look for work now (a batch was created or canceled)."""
        self._wake.set()

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._purge_if_due()
                await self._settle_batches()
                await self._dispatch()
            except Exception:
                logger.exception("batch runner: sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=SWEEP_INTERVAL_S)

    async def _purge_if_due(self) -> None:
        if time.monotonic() - self._last_purge_monotonic < PURGE_INTERVAL_S:
            return
        self._last_purge_monotonic = time.monotonic()
        purged = await self._store.purge_ended_before(self._clock() - self._retention_s)
        if purged:
            logger.info("deleted %d ended message batches past their retention", purged)

    async def _settle_batches(self) -> None:
        """A canceled batch gets `canceled`, an expired one `expired`, for every request without a
        result, those running included (they are stopped first, and store nothing); then it ends."""
        now = self._clock()
        for batch in await self._store.unended():
            if batch.processing_status == CANCELING:
                outcome, result = CANCELED, _CANCELED_RESULT
            elif now >= batch.expires_at:
                outcome, result = EXPIRED, _EXPIRED_RESULT
            else:
                continue
            stopping = [task for (batch_id, _), task in self._running.items() if batch_id == batch.id]
            for task in stopping:
                task.cancel()
            await asyncio.gather(*stopping, return_exceptions=True)
            _, settled = await self._store.settle(batch.id, outcome, result, now=now, running=())
            if settled and self._observer is not None:
                self._observer.batch_outcomes(outcome, settled)

    async def _dispatch(self) -> None:
        free = self._concurrency - len(self._running)
        if free <= 0:
            return
        for request in await self._store.unfinished(limit=free, now=self._clock(), skip=set(self._running)):
            task = asyncio.create_task(self._process(request))
            self._running[request.key] = task
            task.add_done_callback(lambda _, key=request.key: self._finished(key))

    def _finished(self, key: tuple[str, int]) -> None:
        self._running.pop(key, None)
        self._wake.set()

    async def _process(self, request: PendingRequest) -> None:
        """Generate and store one result. A preempted generation stores nothing: the request stays
        unfinished and is dispatched again."""
        preemption = Preemption()
        preemption.task = asyncio.create_task(self._handler.run(request.params_json, preemption.trigger))
        try:
            outcome, result = await preemption.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if preemption.happened and current is not None and not current.cancelling():
                if self._observer is not None:
                    self._observer.batch_preempted()
                return
            raise
        except Exception:
            logger.exception("batch %s request %s failed unexpectedly", request.batch_id, request.custom_id)
            return
        if await self._store.record_result(request.batch_id, request.index, outcome, result, now=self._clock()):
            if self._observer is not None:
                self._observer.batch_outcomes(outcome, 1)
