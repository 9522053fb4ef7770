"""Streams at shutdown: when SIGTERM's grace period ends, every stream still running is cut with its
API's error event (Anthropic `error` event, OpenAI error chunk, Ollama error line) and then ends
cleanly, instead of being cancelled mid-answer by the ASGI server with no word to the client."""

from __future__ import annotations

import asyncio
import logging

import anyio

logger = logging.getLogger(__name__)


class StreamCutoff:
    """One stream's link to the shutdown: `cut` stops its wait for the next event. Waits are wrapped in
    a cancel scope only once the server is stopping (`armed`): a scope per event costs tens of µs."""

    def __init__(self) -> None:
        self.armed = False
        self.is_cut = False
        self._waiting: anyio.CancelScope | None = None

    def waiting(self) -> anyio.CancelScope:
        """A scope around one wait for the next event; cancelled if the stream is cut meanwhile."""
        scope = anyio.CancelScope()
        if self.is_cut:
            scope.cancel()
        self._waiting = scope
        return scope

    def cut(self) -> None:
        self.is_cut = True
        if self._waiting is not None:
            self._waiting.cancel()


class ShutdownDrain:
    """The streams in flight; `begin(grace_s)` cuts those still running when the grace period ends."""

    def __init__(self) -> None:
        self._streams: set[StreamCutoff] = set()
        self.stopping = False
        self.grace_ended = False

    def register(self, cutoff: StreamCutoff) -> None:
        cutoff.armed = self.stopping
        if self.grace_ended:
            cutoff.cut()
        self._streams.add(cutoff)

    def unregister(self, cutoff: StreamCutoff) -> None:
        self._streams.discard(cutoff)

    def begin(self, grace_s: float) -> None:
        """Called on the event loop when the server is told to stop. A stream already waiting for its
        next event is armed from that event on."""
        self.stopping = True
        for cutoff in self._streams:
            cutoff.armed = True
        asyncio.get_running_loop().call_later(grace_s, self.end_grace)

    def end_grace(self) -> None:
        self.grace_ended = True
        if self._streams:
            logger.warning("shutdown grace period over: ending %d running stream(s) with an error event",
                           len(self._streams))
        for cutoff in list(self._streams):
            cutoff.cut()
