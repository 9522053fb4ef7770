"""Run one piece of work once for everybody who asks for it at the same time (keyed by, e.g., a blob
digest), so two concurrent pulls of one model download each blob once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class _Flight(Generic[Result]):
    task: asyncio.Future[Result]
    waiters: int = 0


class SingleFlight(Generic[Result]):
    def __init__(self) -> None:
        self._running: dict[str, _Flight[Result]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[Result]]) -> Result:
        """The result of `work()`, started now or shared with the caller that started it.

        One waiter going away (a client disconnecting) does not cancel the work for the others; the
        last one going away cancels it. A failure reaches every waiter."""
        flight = self._running.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(work()))
            self._running[key] = flight
            flight.task.add_done_callback(lambda _: self._forget(key, flight))
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1

    def _forget(self, key: str, flight: _Flight[Result]) -> None:
        if self._running.get(key) is flight:
            del self._running[key]
