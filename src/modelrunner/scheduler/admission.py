"""Admission to one runner: as many requests at once as it has slots, then a bounded first-come
first-served queue, then Overloaded. Sending an engine more than it has slots would only queue them
inside it, where nobody can see, bound or cancel them.

Background work (batches) is admitted with a `Yielding` priority: it takes a slot only when no
interactive request waits and one slot stays free after it (a runner with one slot excepted), so an
interactive request arriving during a batch starts at once instead of waiting for a generation to be
stopped; it queues behind every interactive request, and gives its slot up (is preempted) as soon as an
interactive request has to queue, so an interactive request never waits for more than the preempted
generation to stop."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass

from modelrunner.core.errors import Overloaded


@dataclass(eq=False)
class Yielding:
    """The priority of one background generation: `on_preempt` is called (once) when an interactive
    request needs its slot; the holder then stops and gives the slot back. Compared by identity."""

    on_preempt: Callable[[], None]
    is_preempted: bool = False

    def preempt(self) -> None:
        if not self.is_preempted:
            self.is_preempted = True
            self.on_preempt()


class AdmissionGate:
    def __init__(self, capacity: int, queue_limit: int, *, label: str) -> None:
        self.capacity = max(1, capacity)
        self.queue_limit = max(0, queue_limit)
        self.label = label
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._background_waiters: collections.deque[tuple[asyncio.Future[None], Yielding]] = collections.deque()
        self._background_holders: dict[Yielding, None] = {}  # insertion-ordered: the newest is preempted first

    @property
    def waiting(self) -> int:
        """Interactive requests waiting for a slot (background work waits apart)."""
        return len(self._waiters)

    @property
    def background_waiting(self) -> int:
        return len(self._background_waiters)

    @property
    def is_idle(self) -> bool:
        return self.active == 0 and not self._waiters and not self._background_waiters

    def reserve(self, yielding: Yielding | None = None) -> Place:
        """Take a slot now, or a place at the back of the queue, or raise Overloaded now: the part of
        admission a client can be told before anything has been streamed to it. With `yielding`, the
        place is in the background queue, which is unbounded (its callers bound their own work)."""
        if yielding is not None:
            return self._reserve_background(yielding)
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
        self._preempt_background()
        return Place(self, waiter)

    @property
    def _background_capacity(self) -> int:
        """The slots background work may fill: all but one, kept free for the next interactive request."""
        return max(1, self.capacity - 1)

    def _reserve_background(self, yielding: Yielding) -> Place:
        if self.active < self._background_capacity and not self._waiters and not self._background_waiters:
            self.active += 1
            self._background_holders[yielding] = None
            return Place(self, None, yielding)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._background_waiters.append((waiter, yielding))
        return Place(self, waiter, yielding)

    def _preempt_background(self) -> None:
        """An interactive request has to queue: ask the newest background holder for its slot."""
        if self._background_holders:
            newest = next(reversed(self._background_holders))
            del self._background_holders[newest]
            newest.preempt()

    def _withdraw(self, waiter: asyncio.Future[None], yielding: Yielding | None = None) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif yielding is not None and (waiter, yielding) in self._background_waiters:
            self._background_waiters.remove((waiter, yielding))
        elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            self.leave(yielding)  # the slot was handed over just as its taker gave up: pass it on

    def leave(self, yielding: Yielding | None = None) -> bool:
        """Give a slot back, straight to the longest-waiting interactive request if there is one, else
        to the longest-waiting background work if background work may fill it. True if it was handed
        to a waiter."""
        if yielding is not None:
            self._background_holders.pop(yielding, None)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return True
        while self._background_waiters and self.active - 1 < self._background_capacity:
            waiter, taker = self._background_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._background_holders[taker] = None
                return True
        self.active = max(0, self.active - 1)
        return False

    def fail_waiters(self, error: BaseException) -> None:
        """Wake every queued request with `error` (the runner went away)."""
        waiters = [*self._waiters, *(waiter for waiter, _ in self._background_waiters)]
        self._waiters.clear()
        self._background_waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)


class Place:
    """What `AdmissionGate.reserve` hands out: a slot already held, or a place in the queue for one."""

    __slots__ = ("_gate", "_waiter", "_yielding")

    def __init__(self, gate: AdmissionGate, waiter: asyncio.Future[None] | None,
                 yielding: Yielding | None = None) -> None:
        self._gate = gate
        self._waiter = waiter
        self._yielding = yielding

    async def wait(self) -> None:
        """Until the slot is ours (the holder gives it back with `AdmissionGate.leave`). Cancelling the
        wait leaves the queue."""
        if self._waiter is None:
            return
        try:
            await self._waiter
        except asyncio.CancelledError:
            self._gate._withdraw(self._waiter, self._yielding)
            raise

    def give_up(self) -> None:
        """Give back a place that was never waited for: the slot, or the place in the queue."""
        if self._waiter is None:
            self._gate.leave(self._yielding)
        else:
            self._gate._withdraw(self._waiter, self._yielding)
