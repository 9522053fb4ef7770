"""Keep a quiet event stream alive: clients (and proxies) give up on streams that stay silent, and a
model loading or a long prompt being processed on a CPU can take minutes before the first token.

Pings are written beside the stream, not woven into it: a timer task sends one whenever nothing was
sent for `interval_s`, so the per-event path costs a lock and a clock read instead of a task and a
timed wait per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Keepalive:
    ping: bytes
    interval_s: float


SendBody = Callable[[bytes], Awaitable[None]]


async def send_with_keepalive(events: AsyncIterator[bytes], send_body: SendBody, keepalive: Keepalive) -> None:
    """Send every event of `events`, and `keepalive.ping` whenever nothing was sent for its interval.
    Pings go between whole events; they stop when `events` ends or fails."""
    loop = asyncio.get_running_loop()
    sending = asyncio.Lock()
    last_sent = loop.time()

    async def send(data: bytes) -> None:
        nonlocal last_sent
        async with sending:
            await send_body(data)
        last_sent = loop.time()

    async def ping_while_quiet() -> None:
        while True:
            await asyncio.sleep(max(0.0, last_sent + keepalive.interval_s - loop.time()))
            if loop.time() - last_sent >= keepalive.interval_s:
                await send(keepalive.ping)

    pinging = asyncio.create_task(ping_while_quiet())
    # A ping that failed (the client left) fails the stream's own next send too; nothing to report twice.
    pinging.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        async for event in events:
            await send(event)
    finally:
        pinging.cancel()
    async with sending:  # a ping being written when the stream ended goes out whole before the caller's end
        pass
