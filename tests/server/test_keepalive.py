"""Pings keep a quiet stream alive without disturbing the events around them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from modelrunner.server.keepalive import Keepalive, send_with_keepalive

PING = b"ping"


def test_pings_flow_while_the_stream_is_quiet_and_stop_when_it_ends() -> None:
    async def scenario() -> list[bytes]:
        sent: list[bytes] = []
        three_pings = asyncio.Event()

        async def events() -> AsyncIterator[bytes]:
            yield b"start"
            await three_pings.wait()
            yield b"token"

        async def send(data: bytes) -> None:
            sent.append(data)
            if sent.count(PING) == 3:
                three_pings.set()

        await send_with_keepalive(events(), send, Keepalive(PING, interval_s=0.001))
        await asyncio.sleep(0.01)  # no ping may follow the last event
        return sent

    sent = asyncio.run(scenario())
    assert sent[0] == b"start" and sent[-1] == b"token" and sent.count(PING) >= 3


def test_a_stream_that_keeps_flowing_gets_no_pings() -> None:
    async def scenario() -> list[bytes]:
        sent: list[bytes] = []

        async def events() -> AsyncIterator[bytes]:
            for n in range(20):
                await asyncio.sleep(0.001)
                yield str(n).encode()

        async def send(data: bytes) -> None:
            sent.append(data)

        await send_with_keepalive(events(), send, Keepalive(PING, interval_s=1.0))
        return sent

    assert PING not in asyncio.run(scenario())


def test_errors_of_the_stream_propagate_and_stop_the_pings() -> None:
    async def scenario() -> None:
        async def events() -> AsyncIterator[bytes]:
            yield b"start"
            raise ValueError("engine failed")

        async def send(data: bytes) -> None:
            pass

        await send_with_keepalive(events(), send, Keepalive(PING, interval_s=0.001))

    with pytest.raises(ValueError, match="engine failed"):
        asyncio.run(scenario())
