"""Streaming responses that own a runner lease: the lease is returned when the stream ends, fails,
or the client goes away (Starlette cancels the body iterator on disconnect, which closes the engine
stream and so frees the engine slot)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from modelrunner.core.errors import EngineFailed, ModelRunnerError
from modelrunner.server.keepalive import Keepalive, send_with_keepalive
from modelrunner.server.shutdown import ShutdownDrain, StreamCutoff

logger = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SHUTDOWN_MESSAGE = "the server is shutting down: this answer was cut at the end of the shutdown grace period"


async def _until_cut(events: AsyncIterator[bytes], cutoff: StreamCutoff | None) -> AsyncIterator[bytes]:
    """`events` until the shutdown cuts the stream (then EngineFailed, so the API's error event follows)."""
    if cutoff is None:
        async for event in events:
            yield event
        return
    iterator = events.__aiter__()
    while True:
        if not cutoff.armed:
            try:
                event = await iterator.__anext__()
            except StopAsyncIteration:
                return
            yield event
            continue
        with cutoff.waiting():
            try:
                event = await iterator.__anext__()
            except StopAsyncIteration:
                return
        if cutoff.is_cut:
            raise EngineFailed(SHUTDOWN_MESSAGE, retryable=True)
        yield event


async def guarded_events(
    events: AsyncIterator[bytes],
    *,
    cleanup: contextlib.AsyncExitStack,
    error_event: Callable[[ModelRunnerError], bytes],
    cutoff: StreamCutoff | None = None,
) -> AsyncIterator[bytes]:
    """Yield `events`; a failure after the 200 (or the end of the shutdown grace period) becomes one
    error event, and `cleanup` always runs."""
    try:
        async for event in _until_cut(events, cutoff):
            yield event
    except ModelRunnerError as exc:
        logger.warning("stream failed after it started: %s", exc.message)
        yield error_event(exc)
    except Exception as exc:
        logger.exception("stream failed after it started")
        yield error_event(EngineFailed(f"internal error: {type(exc).__name__}"))
    finally:
        # Starlette cancels a disconnected client's stream with an anyio cancel scope, which cancels every
        # await again: unshielded, closing the engine stream would be cancelled too and the engine would
        # go on generating into a socket nobody reads.
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
            await cleanup.aclose()


class OwningStreamingResponse(StreamingResponse):
    """A streamed response that owns what its stream holds (a lease, a reserved slot): `cleanup` runs
    when the response is over, even if the client left before the body was ever iterated, which would
    skip the body's own `finally`."""

    def __init__(self, body: AsyncIterator[bytes], cleanup: contextlib.AsyncExitStack, *, media_type: str,
                 headers: dict[str, str] | None = None, keepalive: Keepalive | None = None,
                 cutoff: StreamCutoff | None = None) -> None:
        super().__init__(body, media_type=media_type, headers=headers)
        self._events = body
        self._cleanup = cleanup
        self._keepalive = keepalive
        self._cutoff = cutoff

    async def stream_response(self, send: Send) -> None:
        if self._keepalive is None:
            await super().stream_response(send)
            return

        async def send_body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send_with_keepalive(self._events, send_body, self._keepalive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        drain: ShutdownDrain | None = getattr(getattr(app, "state", None), "shutdown_drain", None)
        if drain is not None and self._cutoff is not None:
            drain.register(self._cutoff)
        try:
            await super().__call__(scope, receive, send)
        finally:
            if drain is not None and self._cutoff is not None:
                drain.unregister(self._cutoff)
            with anyio.CancelScope(shield=True):
                await self._cleanup.aclose()


def guarded_stream(
    events: AsyncIterator[bytes],
    *,
    cleanup: contextlib.AsyncExitStack,
    error_event: Callable[[ModelRunnerError], bytes],
    media_type: str,
    headers: dict[str, str] | None = None,
    keepalive: Keepalive | None = None,
) -> OwningStreamingResponse:
    """Stream `events`; a failure after the 200 becomes one error event, and `cleanup` always runs."""
    cutoff = StreamCutoff()
    body = guarded_events(events, cleanup=cleanup, error_event=error_event, cutoff=cutoff)
    return OwningStreamingResponse(body, cleanup, media_type=media_type, headers=headers, keepalive=keepalive,
                                   cutoff=cutoff)


def event_stream_response(
    events: AsyncIterator[bytes],
    *,
    cleanup: contextlib.AsyncExitStack,
    error_event: Callable[[ModelRunnerError], bytes],
    keepalive: Keepalive | None = None,
) -> OwningStreamingResponse:
    return guarded_stream(events, cleanup=cleanup, error_event=error_event, media_type="text/event-stream",
                          headers=SSE_HEADERS, keepalive=keepalive)
