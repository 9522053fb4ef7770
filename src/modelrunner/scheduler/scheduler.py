"""The scheduler: one runner per model, loaded on first use, shared by concurrent requests, unloaded
when idle past its keep_alive.

Loads are single-flight: requests for a model that is still loading wait for that one load. A runner
whose worker died is replaced on the next request. A model that just failed to load fails fast for a
short while instead of being retried in a tight loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from modelrunner.core.errors import ModelNotFound, ModelRunnerError
from modelrunner.engines.base import ModelFiles, RunnerConfig
from modelrunner.scheduler.keep_alive import DEFAULT_KEEP_ALIVE_S, parse_keep_alive
from modelrunner.scheduler.names import ModelNameResolver
from modelrunner.settings import Settings
from modelrunner.store.models import StoredModel, display_name
from modelrunner.store.store import ModelStore

logger = logging.getLogger(__name__)

FAILED_LOAD_COOLDOWN_S = 5.0
IDLE_CHECK_INTERVAL_S = 1.0


@dataclass
class RunnerSlot:
    """What the scheduler knows of one model's runner, loaded or loading."""

    model: StoredModel
    label: str
    config: RunnerConfig
    loading: asyncio.Task[Any] | None = None
    runner: Any = None
    in_use: int = 0
    last_used_monotonic: float = field(default_factory=time.monotonic)
    last_used_wall: float = field(default_factory=time.time)
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S

    @property
    def is_loading(self) -> bool:
        return self.runner is None

    def describe(self, backend: str) -> dict[str, Any]:
        return {
            "backend_name": backend,
            "model_name": self.label,
            "model_id": self.model.id,
            "mode": "completion",
            "loading": self.is_loading,
            "in_use": self.in_use > 0,
            "active_requests": self.in_use,
            "last_used": int(self.last_used_wall),
            "keep_alive": None if math.isinf(self.keep_alive_s) else self.keep_alive_s,
            "context_size": self.config.context_size,
            "parallel_slots": self.config.parallel_slots,
        }


@dataclass(frozen=True)
class Lease:
    """A runner lent to one request; `requested` is the client's name for the model."""

    model: StoredModel
    runner: Any
    requested: str
    context_size: int


class Scheduler:
    def __init__(self, store: ModelStore, engine: Any, settings: Settings) -> None:
        self._store = store
        self._engine = engine
        self._settings = settings
        self._names = ModelNameResolver(settings.model_aliases, settings.default_model)
        self._slots: dict[str, RunnerSlot] = {}
        self._failed_loads: dict[str, tuple[float, ModelRunnerError]] = {}
        self._reaper: asyncio.Task[None] | None = None

    @property
    def backend_name(self) -> str:
        return self._engine.name

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._unload_idle_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(*(self._stop_slot(slot) for slot in list(self._slots.values())),
                             return_exceptions=True)
        self._slots.clear()

    async def resolve(self, requested: str) -> StoredModel:
        """The stored model a client's name refers to, through aliases and the Claude fallback."""
        last_error: ModelRunnerError = ModelNotFound(requested)
        for candidate in self._names.candidates(requested):
            try:
                return await asyncio.to_thread(self._store.find, candidate)
            except ModelNotFound as exc:
                last_error = exc if candidate == requested else ModelNotFound(requested)
        raise last_error

    @contextlib.asynccontextmanager
    async def acquire(self, requested: str, *, keep_alive: str | float | None = None) -> AsyncIterator[Lease]:
        """Lend the runner for `requested`, loading it first if needed."""
        requested_keep_alive = parse_keep_alive(keep_alive)
        model = await self.resolve(requested)
        slot = await self._ready_slot(model)
        slot.in_use += 1
        try:
            yield Lease(model=model, runner=slot.runner, requested=requested, context_size=slot.config.context_size)
        finally:
            slot.in_use -= 1
            slot.last_used_monotonic = time.monotonic()
            slot.last_used_wall = time.time()
            if requested_keep_alive is not None:
                slot.keep_alive_s = requested_keep_alive
            if slot.in_use == 0 and slot.keep_alive_s == 0:
                await self._unload(slot)

    def snapshot(self) -> list[dict[str, Any]]:
        return [slot.describe(self.backend_name) for slot in self._slots.values()]

    async def unload(self, *, models: list[str] | None = None) -> int:
        """Unload idle runners (all, or those of `models`); runners in use are left alone."""
        wanted: set[str] | None = None
        if models is not None:
            wanted = set()
            for name in models:
                with contextlib.suppress(ModelNotFound):
                    wanted.add((await self.resolve(name)).id)
        victims = [s for s in self._slots.values()
                   if s.in_use == 0 and not s.is_loading and (wanted is None or s.model.id in wanted)]
        for slot in victims:
            await self._unload(slot)
        return len(victims)

    def runner_config_for(self, model: StoredModel) -> RunnerConfig:
        trained = model.config.get("gguf", {}).get(f"{model.config.get('architecture')}.context_length")
        context = model.context_size or min(int(trained) if trained else 4096, self._settings.context_size_cap)
        return RunnerConfig(
            context_size=context,
            parallel_slots=self._settings.parallel_slots,
            threads=self._settings.threads,
        )

    async def _ready_slot(self, model: StoredModel) -> RunnerSlot:
        while True:
            slot = self._slots.get(model.id)
            if slot is not None and slot.runner is not None and not slot.runner.is_alive:
                logger.warning("worker for %s is gone; starting a new one", slot.label)
                self._slots.pop(model.id, None)
                await self._stop_slot(slot)
                slot = None
            if slot is None:
                failed = self._failed_loads.get(model.id)
                if failed is not None and time.monotonic() - failed[0] < FAILED_LOAD_COOLDOWN_S:
                    raise failed[1]
                slot = RunnerSlot(model=model, label=self._label(model), config=self.runner_config_for(model),
                                  keep_alive_s=DEFAULT_KEEP_ALIVE_S)
                slot.loading = asyncio.create_task(self._load(slot))
                self._slots[model.id] = slot
            if slot.runner is not None:
                return slot
            assert slot.loading is not None
            await asyncio.shield(slot.loading)
            if self._slots.get(model.id) is slot and slot.runner is not None:
                return slot

    async def _load(self, slot: RunnerSlot) -> None:
        started = time.monotonic()
        try:
            bundle = await asyncio.to_thread(self._store.ensure_bundle, slot.model)
            files = ModelFiles(
                model_id=slot.model.id,
                gguf_path=bundle.gguf_path,
                mmproj_path=bundle.mmproj_path,
                chat_template_path=bundle.chat_template_path,
            )
            slot.runner = await self._engine.start(files, slot.config, label=slot.label)
        except ModelRunnerError as exc:
            self._slots.pop(slot.model.id, None)
            self._failed_loads[slot.model.id] = (time.monotonic(), exc)
            logger.error("could not load %s: %s", slot.label, exc.message)
            raise
        except BaseException:
            self._slots.pop(slot.model.id, None)
            raise
        self._failed_loads.pop(slot.model.id, None)
        slot.last_used_monotonic = time.monotonic()
        slot.last_used_wall = time.time()
        logger.info("loaded %s in %.2fs (context %d x %d slots)", slot.label, time.monotonic() - started,
                    slot.config.context_size, slot.config.parallel_slots)

    async def _unload(self, slot: RunnerSlot) -> None:
        if self._slots.get(slot.model.id) is slot:
            del self._slots[slot.model.id]
        await self._stop_slot(slot)
        logger.info("unloaded %s", slot.label)

    async def _stop_slot(self, slot: RunnerSlot) -> None:
        if slot.loading is not None and not slot.loading.done():
            slot.loading.cancel()
            with contextlib.suppress(BaseException):
                await slot.loading
        if slot.runner is not None:
            await slot.runner.stop()

    async def _unload_idle_forever(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_INTERVAL_S)
            now = time.monotonic()
            for slot in list(self._slots.values()):
                if slot.in_use == 0 and not slot.is_loading and now - slot.last_used_monotonic >= slot.keep_alive_s:
                    await self._unload(slot)

    @staticmethod
    def _label(model: StoredModel) -> str:
        return display_name(model.tags[0]) if model.tags else model.short_id
