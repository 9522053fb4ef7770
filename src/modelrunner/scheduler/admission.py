"""Admission to one runner: as many requests at once as it has slots, then a bounded first-come
first-served queue, then Overloaded. Sending more to llama.cpp than it has slots would only queue them
inside the worker, where nobody can see, bound or cancel them."""

from __future__ import annotations

import asyncio
import collections

from modelrunner.core.errors import Overloaded


class AdmissionGate:
    def __init__(self, capacity: int, queue_limit: int, *, label: str) -> None:
        self.capacity = max(1, capacity)
        self.queue_limit = max(0, queue_limit)
        self.label = label
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def is_idle(self) -> bool:
        return self.active == 0 and not self._waiters

    def reserve(self) -> Place:
        """Take a slot now, or a place at the back of the queue, or raise Overloaded now: the part of
        admission a client can be told before anything has been streamed to it."""
        if self.active < self.capacity and not self._waiters:
            self.active += 1
            return Place(self, None)
        if len(self._waiters) >= self.queue_limit:
            raise Overloaded(
                f"{self.label} is busy: {self.active} requests running and {len(self._waiters)} waiting; "
                "try again shortly",
                retry_after_s=1.0,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return Place(self, waiter)

    def _withdraw(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self.leave()  # the slot was handed over just as its taker gave up: pass it on

    def leave(self) -> None:
        """Give a slot back, straight to the longest-waiting request if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active = max(0, self.active - 1)

    def fail_waiters(self, error: BaseException) -> None:
        """Wake every queued request with `error` (the runner went away)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)


class Place:
    """What `AdmissionGate.reserve` hands out: a slot already held, or a place in the queue for one."""

    __slots__ = ("_gate", "_waiter")

    def __init__(self, gate: AdmissionGate, waiter: asyncio.Future[None] | None) -> None:
        self._gate = gate
        self._waiter = waiter

    async def wait(self) -> None:
        """Until the slot is ours (the holder gives it back with `AdmissionGate.leave`). Cancelling the
        wait leaves the queue."""
        if self._waiter is None:
            return
        try:
            await self._waiter
        except asyncio.CancelledError:
            self._gate._withdraw(self._waiter)
            raise

    def give_up(self) -> None:
        """Give back a place that was never waited for: the slot, or the place in the queue."""
        if self._waiter is None:
            self._gate.leave()
        else:
            self._gate._withdraw(self._waiter)
