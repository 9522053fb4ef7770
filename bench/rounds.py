"""Interleaved rounds and what the benches report of them: the machine is shared and drifts between
rounds by more than the effects measured, so every target runs once per round, ratios are taken per
round, and each result is a median with its spread."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

Sample = TypeVar("Sample")


async def interleaved(targets: dict[str, Callable[[], Awaitable[Sample]]], rounds: int) -> dict[str, list[Sample]]:
    """`rounds` rounds, each running every target once in order: one list of samples per target."""
    runs: dict[str, list[Sample]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, measure in targets.items():
            runs[name].append(await measure())
    return runs


def per_round_ratios(values: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """values[i] / baselines[i] for each round with a baseline, so that drift between rounds cancels."""
    return [value / base for value, base in zip(values, baselines) if base]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def spread_text(values: Sequence[float], scale: float = 1.0) -> str:
    """`min-max` of `values` (times `scale`), for a table's spread column."""
    return f"{min(values) * scale:.3g}-{max(values) * scale:.3g}"


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
