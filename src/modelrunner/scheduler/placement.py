"""Where a model fits: the memory budget check before a load, and which idle runners to evict (least
recently used first) to make room. Pure decisions; the scheduler stops the runners it is told to."""

from __future__ import annotations

from collections.abc import Iterable

from modelrunner.core.errors import InsufficientMemory
from modelrunner.scheduler.memory import describe_bytes
from modelrunner.scheduler.runner_slot import RunnerSlot


def eviction_victims(slots: Iterable[RunnerSlot], *, label: str, needed_bytes: int,
                     budget_bytes: int) -> list[RunnerSlot]:
    """The idle runners to stop, oldest first, so that `needed_bytes` more fit in `budget_bytes`;
    InsufficientMemory when even evicting every idle runner is not enough."""
    if needed_bytes > budget_bytes:
        raise InsufficientMemory(f"not enough memory for {label}: needs {describe_bytes(needed_bytes)}, "
                                 f"available {describe_bytes(budget_bytes)} (the whole memory budget)")
    loaded = list(slots)
    in_use = sum(slot.estimate.total_bytes for slot in loaded)
    victims: list[RunnerSlot] = []
    idle = sorted((slot for slot in loaded if slot.is_idle), key=lambda slot: slot.last_used_monotonic)
    while in_use + needed_bytes > budget_bytes:
        if not idle:
            raise InsufficientMemory(f"not enough memory for {label}: needs {describe_bytes(needed_bytes)}, "
                                     f"available {describe_bytes(budget_bytes - in_use)} (the other models are in use)")
        victim = idle.pop(0)
        victims.append(victim)
        in_use -= victim.estimate.total_bytes
    return victims
