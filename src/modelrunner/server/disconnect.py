"""Cancel a request's handler when its client goes away before the answer starts.

Starlette notices a disconnect only once a streaming body is being sent. Before that, a handler may be
waiting for a model to load, queued for a runner slot, or generating a whole non-streamed answer; a
client that gave up should free that place at once, not when the work would have finished. The edge
middleware drives this: it hands the handler `receive`, and calls `answer_started` from its one `send`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope

logger = logging.getLogger(__name__)


class DisconnectWatch:
    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._body_received = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_received.set()
        return message

    def answer_started(self) -> None:
        """From here on the response itself watches the client."""
        if self._watcher is not None:
            self._watcher.cancel()

    async def _wait_for_disconnect(self) -> None:
        # Only once the handler has the whole body: reading earlier would steal its body messages.
        await self._body_received.wait()
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def run(self, scope: Scope, handle: Callable[[], Awaitable[None]]) -> None:
        """Run `handle()`, cancelling it if the client leaves before the answer starts."""
        watcher = self._watcher = asyncio.create_task(self._wait_for_disconnect())
        handler = asyncio.ensure_future(handle())
        try:
            await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            handler.cancel()
            watcher.cancel()
            raise
        if not handler.done() and watcher.done() and not watcher.cancelled():
            logger.info("client left %s %s before the answer started; cancelling it", scope["method"], scope["path"])
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handler
            return
        watcher.cancel()
        await handler
