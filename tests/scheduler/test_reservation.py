"""A reservation hands its slot to the next queued request and lets that request go first, so that the
engine's slot does not stand idle while the finished request's answer is encoded and logged."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from modelrunner.scheduler.admission import AdmissionGate
from modelrunner.scheduler.runner_slot import Reservation


def _reservation(gate: AdmissionGate, slot: Any) -> Reservation:
    place = gate.reserve()

    async def wait() -> Any:
        await place.wait()
        return slot

    return Reservation(place, model=SimpleNamespace(), requested="m", wait=wait,  # type: ignore[arg-type]
                       release=lambda used: gate.leave())


def test_leave_says_whether_the_slot_went_to_a_waiter() -> None:
    async def scenario() -> tuple[bool, bool]:
        gate = AdmissionGate(1, 1, label="m")
        await gate.reserve().wait()
        queued = asyncio.create_task(gate.reserve().wait())
        await asyncio.sleep(0)
        handed_over = gate.leave()
        await queued
        return handed_over, gate.leave()

    assert asyncio.run(scenario()) == (True, False)


class OneSlot:
    """A runner slot behind a gate of one, and the events of the requests that take it, in order."""

    def __init__(self) -> None:
        self.gate = AdmissionGate(1, 1, label="m")
        self.slot = SimpleNamespace(runner=object(), label="m", config=SimpleNamespace(context_size=64))
        self.events: list[str] = []

    def reservation(self) -> Reservation:
        return _reservation(self.gate, self.slot)

    async def queued_request(self) -> None:
        async with self.reservation():
            self.events.append("queued request started")


def test_a_slot_handed_over_lets_its_taker_start_before_the_giver_goes_on() -> None:
    async def scenario() -> list[str]:
        one = OneSlot()
        async with one.reservation():
            taker = asyncio.create_task(one.queued_request())
            await asyncio.sleep(0)  # it queues for the one slot
        one.events.append("first request goes on")
        await taker
        return one.events

    assert asyncio.run(scenario()) == ["queued request started", "first request goes on"]


def test_a_failing_holder_gives_its_slot_back_without_waiting() -> None:
    async def scenario() -> list[str]:
        one = OneSlot()
        taker: asyncio.Task[None] | None = None
        try:
            async with one.reservation():
                taker = asyncio.create_task(one.queued_request())
                await asyncio.sleep(0)
                raise LookupError("the engine failed")
        except LookupError:
            one.events.append("failure handled")
        assert taker is not None
        await taker
        return one.events

    assert asyncio.run(scenario()) == ["failure handled", "queued request started"]
