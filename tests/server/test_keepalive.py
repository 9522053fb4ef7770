"""Pings keep a quiet stream alive without disturbing the events around them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from modelrunner.server.keepalive import with_keepalive

PING = b"ping"


def test_pings_flow_while_the_producer_is_quiet_and_stop_when_it_ends() -> None:
    async def scenario() -> list[bytes]:
        quiet = asyncio.Event()

        async def events() -> AsyncIterator[bytes]:
            yield b"start"
            await quiet.wait()
            yield b"token"

        out: list[bytes] = []
        async for event in with_keepalive(events(), ping=PING, interval_s=0.001):
            out.append(event)
            if out.count(PING) == 3:
                quiet.set()
        return out

    out = asyncio.run(scenario())
    assert out[0] == b"start" and out[-1] == b"token" and out.count(PING) >= 3


def test_closing_the_stream_closes_the_producer_even_mid_wait() -> None:
    async def scenario() -> bool:
        closed = asyncio.Event()

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"start"
                await asyncio.Event().wait()
                yield b"never"
            finally:
                closed.set()

        stream = with_keepalive(events(), ping=PING, interval_s=0.001)
        assert await anext(stream) == b"start"
        assert await anext(stream) == PING
        await stream.aclose()
        return closed.is_set()

    assert asyncio.run(scenario())


def test_errors_of_the_producer_propagate() -> None:
    async def scenario() -> None:
        async def events() -> AsyncIterator[bytes]:
            yield b"start"
            raise ValueError("engine failed")

        async for _ in with_keepalive(events(), ping=PING, interval_s=1.0):
            pass

    try:
        asyncio.run(scenario())
    except ValueError as exc:
        assert str(exc) == "engine failed"
    else:
        raise AssertionError("the producer's error was swallowed")
