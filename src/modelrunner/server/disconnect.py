"""Cancel a request's handler when its client goes away before the answer starts.

Starlette notices a disconnect only once a streaming body is being sent. Before that, a handler may be
waiting for a model to load, queued for a runner slot, or generating a whole non-streamed answer; a
client that gave up should free that place at once, not when the work would have finished."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class CancelOnDisconnect:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_received = asyncio.Event()

        async def tracking_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_received.set()
            return message

        async def wait_for_disconnect() -> None:
            # Only once the handler has the whole body: reading earlier would steal its body messages.
            await body_received.wait()
            while (await receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.create_task(wait_for_disconnect())

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                watcher.cancel()  # from here on the response itself watches the client
            await send(message)

        handler = asyncio.create_task(self.app(scope, tracking_receive, tracking_send))
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
