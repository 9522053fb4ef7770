"""Keep a quiet event stream alive: clients (and proxies) give up on streams that stay silent, and a
model loading or a long prompt being processed on a CPU can take minutes before the first token."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio


async def with_keepalive(events: AsyncIterator[bytes], *, ping: bytes, interval_s: float) -> AsyncIterator[bytes]:
    """Yield `events`, and `ping` whenever nothing else was sent for `interval_s`.

    The next event is awaited in a task that survives each timeout, so waiting never cancels the
    producer half-way; closing this generator cancels that task and closes `events`.
    """
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield ping
                continue
            finished, pending = pending, None
            try:
                event = finished.result()
            except StopAsyncIteration:
                return
            yield event
    finally:
        # Shielded: a disconnect cancels through an anyio scope that would cancel these awaits too, and
        # the producer must finish closing (its engine stream) before we return.
        with anyio.CancelScope(shield=True):
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            with contextlib.suppress(RuntimeError):
                await events.aclose()  # type: ignore[attr-defined]
