"""The admission gate: slots first, then a bounded FIFO queue, then Overloaded; a cancelled waiter
leaves the queue."""

from __future__ import annotations

import asyncio

import pytest

from modelrunner.core.errors import Overloaded
from modelrunner.scheduler.admission import AdmissionGate, Yielding


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


def _background(preempted: list[str], name: str) -> Yielding:
    return Yielding(on_preempt=lambda: preempted.append(name))


def test_background_work_takes_only_a_slot_nobody_interactive_waits_for() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(1, 5, label="m")
        preempted: list[str] = []
        first = _background(preempted, "first")
        await gate.reserve(first).wait()
        interactive_waiting = asyncio.create_task(gate.reserve().wait())
        queued_background = _background(preempted, "second")
        background_waiting = asyncio.create_task(gate.reserve(queued_background).wait())
        await asyncio.sleep(0)
        assert preempted == ["first"] and (gate.waiting, gate.background_waiting) == (1, 1)
        gate.leave(first)  # the preempted holder stops: the interactive request gets the slot
        await interactive_waiting
        assert not background_waiting.done()
        gate.leave()
        await background_waiting
        assert gate.active == 1 and preempted == ["first"]
        gate.leave(queued_background)
        assert gate.is_idle

    asyncio.run(scenario())


def test_an_interactive_request_preempts_the_newest_background_holder_once() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(2, 5, label="m")
        preempted: list[str] = []
        older, newer = _background(preempted, "older"), _background(preempted, "newer")
        await gate.reserve(older).wait()
        await gate.reserve(newer).wait()
        first = asyncio.create_task(gate.reserve().wait())
        second = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        assert preempted == ["newer", "older"]
        third = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        assert preempted == ["newer", "older"]  # nothing left to preempt: it queues as usual
        gate.leave(newer)
        gate.leave(older)
        await asyncio.gather(first, second)
        assert not third.done() and gate.active == 2
        gate.leave()
        await third
        for _ in range(2):
            gate.leave()
        assert gate.is_idle

    asyncio.run(scenario())


def test_a_free_slot_goes_to_an_interactive_request_before_queued_background_work() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(1, 5, label="m")
        await gate.reserve().wait()
        background = asyncio.create_task(gate.reserve(_background([], "b")).wait())
        await asyncio.sleep(0)
        assert gate.background_waiting == 1 and gate.waiting == 0
        interactive = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        gate.leave()
        await interactive
        assert not background.done()
        background.cancel()
        with pytest.raises(asyncio.CancelledError):
            await background
        gate.leave()
        assert gate.is_idle

    asyncio.run(scenario())
