"""Cancel a request's handler when its client goes away before the answer starts.

Starlette notices a disconnect only once a streaming body is being sent. Before that, a handler may be
waiting for a model to load, queued for a runner slot, or generating a whole non-streamed answer; a
client that gave up should free that place at once, not when the work would have finished. The edge
middleware drives this: it hands the handler `receive`, and calls `answer_started` from its one `send`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope

logger = logging.getLogger(__name__)


WATCH_AFTER_S = 0.05
"""A handler that answers sooner than this is never watched: most requests do, and watching costs a task."""


class DisconnectWatch:
    """Runs a handler in the caller's task; once it has run `WATCH_AFTER_S` without starting its answer,
    one watcher task reads the client's next message, and cancels the handler if the client is gone."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._is_body_received = False
        self._body_received: asyncio.Event | None = None
        self._is_answer_started = False
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._client_left = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._is_body_received = True
            if self._body_received is not None:
                self._body_received.set()
        return message

    def answer_started(self) -> None:
        """From here on the response itself watches the client."""
        self._is_answer_started = True
        self._stop_watching()

    def _stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    def _watch(self, handler: asyncio.Task[object]) -> None:
        self._timer = None
        if not self._is_answer_started:
            self._watcher = asyncio.create_task(self._cancel_when_client_leaves(handler))

    async def _cancel_when_client_leaves(self, handler: asyncio.Task[object]) -> None:
        # Only once the handler has the whole body: reading earlier would steal its body messages.
        if not self._is_body_received:
            self._body_received = asyncio.Event()
            await self._body_received.wait()
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self._is_answer_started:
            self._client_left = True
            handler.cancel()

    async def run(self, scope: Scope, handle: Callable[[], Awaitable[None]]) -> None:
        """Run `handle()`, cancelling it if the client leaves before the answer starts."""
        handler = asyncio.current_task()
        assert handler is not None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._watch, handler)
        try:
            await handle()
        except asyncio.CancelledError:
            if self._client_left and handler.uncancel() == 0:  # our own cancel, not the server's
                logger.info("client left %s %s before the answer started; cancelling it", scope["method"], scope["path"])
                return
            raise
        finally:
            self._stop_watching()
