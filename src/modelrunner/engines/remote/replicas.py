"""The replicas of one upstream: their health, load and latency, and which one serves a request
(fewest in flight, except that a continuing conversation returns to the replica that served it)."""

from __future__ import annotations

import asyncio
from typing import Any

from modelrunner.core.errors import EngineFailed
from modelrunner.engines.remote.affinity import AffinityMap
from modelrunner.engines.remote.upstream import ReplicaAddress, UpstreamKind

LATENCY_SMOOTHING = 0.2
AFFINITY_SLACK = 1


class Replica:
    """One base URL of an upstream and what we know of it now."""

    __slots__ = ("url", "kind", "max_concurrency", "is_healthy", "in_flight", "served", "failures",
                 "last_error", "latency_s")

    def __init__(self, address: ReplicaAddress, *, max_concurrency: int, is_healthy: bool) -> None:
        self.url = address.url
        self.kind: UpstreamKind = address.kind
        self.max_concurrency = max(1, max_concurrency)
        self.is_healthy = is_healthy
        self.in_flight = 0
        self.served = 0
        self.failures = 0
        self.last_error: str | None = None
        self.latency_s: float | None = None

    @property
    def has_room(self) -> bool:
        return self.in_flight < self.max_concurrency

    def observe_first_token(self, seconds: float) -> None:
        """Time to first token, smoothed: what a client of this replica waits now."""
        self.latency_s = seconds if self.latency_s is None else \
            (1 - LATENCY_SMOOTHING) * self.latency_s + LATENCY_SMOOTHING * seconds

    def mark_down(self, reason: str) -> None:
        self.is_healthy = False
        self.failures += 1
        self.last_error = reason

    def mark_up(self) -> None:
        self.is_healthy = True
        self.last_error = None

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "healthy": self.is_healthy,
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
            "served": self.served,
            "failures": self.failures,
            "latency_ms": None if self.latency_s is None else round(self.latency_s * 1000, 1),
            "last_error": self.last_error,
        }


class ReplicaSet:
    def __init__(self, replicas: list[Replica], *, upstream: str) -> None:
        self.replicas = replicas
        self.upstream = upstream
        self.affinity: AffinityMap[Replica] = AffinityMap()
        self._changed = asyncio.Event()  # replaced each time it fires: set means "look again"

    def healthy(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.is_healthy]

    async def take(self, keys: list[bytes], *, tried: set[Replica]) -> Replica:
        """A replica for one request, counted in flight until `give_back`. Waits while every usable
        replica is at its max_concurrency; raises when none is usable at all."""
        while True:
            usable = [replica for replica in self.healthy() if replica not in tried]
            if not usable:
                raise self.none_usable(tried)
            with_room = [replica for replica in usable if replica.has_room]
            if with_room:
                chosen = self._choose(with_room, keys)
                chosen.in_flight += 1
                return chosen
            await self._changed.wait()

    def _choose(self, candidates: list[Replica], keys: list[bytes]) -> Replica:
        """Fewest in flight; a conversation's own replica while it is not busier than that by more than
        AFFINITY_SLACK (a cache hit is worth a little queueing, not a hot spot: many clients repeating
        one prompt must still spread)."""
        least = min(candidates, key=lambda replica: (replica.in_flight, replica.served))
        preferred = self.affinity.lookup(keys)
        if preferred is not None and preferred in candidates \
                and preferred.in_flight <= least.in_flight + AFFINITY_SLACK:
            return preferred
        return least

    def none_usable(self, tried: set[Replica]) -> EngineFailed:
        reasons = "; ".join(f"{replica.url}: {replica.last_error or 'unhealthy'}"
                            for replica in self.replicas if replica not in tried or replica.last_error)
        return EngineFailed(f"no replica of upstream {self.upstream} is available ({reasons or 'none left to try'})",
                            retryable=True)

    def give_back(self, replica: Replica) -> None:
        """Synchronous, so that a generation closed by a cancelled request still gives its place back."""
        replica.in_flight = max(0, replica.in_flight - 1)
        self.wake_waiters()

    def wake_waiters(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def any_healthy(self) -> Replica | None:
        """A healthy replica for work beside generation (rendering, counting): the least loaded."""
        healthy = self.healthy()
        return min(healthy, key=lambda replica: replica.in_flight) if healthy else None

    def describe(self) -> list[dict[str, Any]]:
        return [replica.describe() for replica in self.replicas]

