"""How much memory the runner may use in all, and what an engine is told of a stored model so that
it can estimate its own needs (the estimate itself is the engine's: see `Engine.estimate_memory`)."""

from __future__ import annotations

from typing import Any

import psutil

from modelrunner.engines.base import MemoryEstimate, ModelDescription
from modelrunner.store import media_types
from modelrunner.store.gguf_metadata import format_size
from modelrunner.store.models import StoredModel

__all__ = ["MemoryEstimate", "default_budget_bytes", "describe_bytes", "describe_model"]

DEFAULT_BUDGET_FRACTION = 0.8


def default_budget_bytes() -> int:
    return int(psutil.virtual_memory().total * DEFAULT_BUDGET_FRACTION)


def describe_bytes(size_bytes: int) -> str:
    return format_size(max(0, size_bytes))


def describe_model(model: StoredModel) -> ModelDescription:
    metadata = model.config.get("gguf") or {}
    layers = [*model.layers_of(media_types.GGUF), *model.layers_of(media_types.MMPROJ)]
    return ModelDescription(
        architecture=str(model.config.get("architecture") or metadata.get("general.architecture") or ""),
        metadata=metadata,
        weights_bytes=sum(int(layer.get("size", 0)) for layer in layers),
    )


def resident_bytes(pid: int | None) -> int | None:
    """A process's measured resident memory (RSS), or None when it is gone. Blocking (reads /proc)."""
    if pid is None:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def add_resident_memory(runners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each worker's measured memory beside its estimate in `/engines/ps` rows."""
    for runner in runners:
        runner.setdefault("memory", {})["resident"] = resident_bytes(runner.get("pid"))
    return runners
