"""The JSON the runner-management API shows of the scheduler's state (`/engines/ps`,
`/engines/_configure`), in Docker Model Runner's field names."""

from __future__ import annotations

import math
from typing import Any

from modelrunner.scheduler.model_config import ModelSettings
from modelrunner.scheduler.runner_slot import RunnerSlot


def runner_entry(slot: RunnerSlot, backend: str) -> dict[str, Any]:
    return {
        "backend_name": backend,
        "model_name": slot.label,
        "model_id": slot.model.id,
        "mode": slot.mode,
        "loading": slot.is_loading,
        "in_use": slot.gate.active > 0 or slot.borrowers > 0,
        "active_requests": slot.gate.active,
        "queued_requests": slot.gate.waiting,
        "last_used": int(slot.last_used_wall),
        "keep_alive": -1 if math.isinf(slot.keep_alive_s) else slot.keep_alive_s,
        "context_size": slot.config.context_size,
        "parallel_slots": slot.config.parallel_slots,
        "memory": slot.estimate.to_api(),
        "pid": slot.runner.pid if slot.runner is not None else None,
        **(slot.runner.describe() if slot.runner is not None else {}),
    }


def configuration_entry(label: Any, model_id: str, settings: ModelSettings) -> dict[str, Any]:
    return {"model": label, "id": model_id, **settings.to_api()}
