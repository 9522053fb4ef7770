"""The admission gate: slots first, then a bounded FIFO queue, then Overloaded; a cancelled waiter
leaves the queue."""

from __future__ import annotations

import asyncio

import pytest

from modelrunner.core.errors import Overloaded
from modelrunner.scheduler.admission import AdmissionGate


def test_slots_then_queue_then_overloaded() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(2, 1, label="m")
        await gate.reserve().wait()
        await gate.reserve().wait()
        queued = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        assert (gate.active, gate.waiting) == (2, 1)
        with pytest.raises(Overloaded) as refused:
            await gate.reserve().wait()
        assert refused.value.retry_after_s is not None
        gate.leave()
        await queued
        assert (gate.active, gate.waiting) == (2, 0)
        gate.leave()
        gate.leave()
        assert gate.is_idle

    asyncio.run(scenario())


def test_waiters_are_served_in_arrival_order() -> None:
    async def scenario() -> list[int]:
        gate = AdmissionGate(1, 5, label="m")
        await gate.reserve().wait()
        served: list[int] = []

        async def wait(number: int) -> None:
            await gate.reserve().wait()
            served.append(number)

        tasks = [asyncio.create_task(wait(n)) for n in range(3)]
        await asyncio.sleep(0)
        for _ in range(3):
            gate.leave()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return served

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_a_cancelled_waiter_leaves_the_queue_and_frees_its_place() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(1, 1, label="m")
        await gate.reserve().wait()
        waiter = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert gate.waiting == 0
        second = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        assert gate.waiting == 1
        gate.leave()
        await second
        gate.leave()
        assert gate.is_idle

    asyncio.run(scenario())


def test_a_reserved_place_never_waited_for_is_given_back() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(1, 2, label="m")
        held = gate.reserve()
        queued = gate.reserve()
        assert (gate.active, gate.waiting) == (1, 1)
        queued.give_up()
        assert (gate.active, gate.waiting) == (1, 0)
        held.give_up()
        assert gate.is_idle
        await gate.reserve().wait()
        late = gate.reserve()
        gate.leave()  # the holder is done: its slot goes to `late`, which gives it up unused
        late.give_up()
        assert gate.is_idle

    asyncio.run(scenario())
