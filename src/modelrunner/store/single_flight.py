"""Run one piece of work once for everybody who asks for it at the same time (keyed by, e.g., a blob
digest), so two concurrent pulls of one model download each blob once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Result = TypeVar("Result")


class SingleFlight(Generic[Result]):
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Result]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[Result]]) -> Result:
        """The result of `work()`, started now or shared with the caller that started it.

        The work is shielded: one waiter going away (a client disconnecting) does not cancel it for
        the others; a failure reaches every waiter."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)
