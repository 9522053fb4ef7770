"""The scheduler: one runner per model, loaded on first use, shared by concurrent requests up to its
slots (then a bounded queue), unloaded when idle past its keep_alive or to make room for another model.

Loads are single-flight: requests for a model that is still loading wait for that one load. Before a
load, the model's memory is estimated and checked against the budget; idle runners are evicted least
recently used first, and if the model still does not fit the request fails at once. A runner whose
worker died or stopped answering its health check is reaped and replaced on the next request. A model
that just failed to load fails fast for a short while instead of being retried in a tight loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from modelrunner.core.errors import (
    Conflict,
    EngineFailed,
    InsufficientMemory,
    ModelNotFound,
    ModelRunnerError,
    NotFound,
)
from modelrunner.engines.base import ModelFiles, RunnerConfig
from modelrunner.engines.remote.upstream import Upstream
from modelrunner.scheduler.admission import Place
from modelrunner.scheduler.keep_alive import parse_keep_alive
from modelrunner.scheduler.memory import MemoryEstimate, default_budget_bytes, describe_bytes, estimate_memory
from modelrunner.scheduler.model_config import ModelConfigFile, ModelSettings, apply_configure_body
from modelrunner.scheduler.names import ModelNameResolver
from modelrunner.scheduler.runner_slot import Lease, Reservation, RunnerSlot, runner_config
from modelrunner.scheduler.upstreams import UpstreamRegistry, is_remote, upstream_model
from modelrunner.settings import Settings
from modelrunner.store.models import StoredModel, display_name
from modelrunner.store.store import ModelStore

__all__ = ["Lease", "Reservation", "RunnerSlot", "Scheduler"]

logger = logging.getLogger(__name__)

FAILED_LOAD_COOLDOWN_S = 5.0
HEALTH_FAILURES_BEFORE_REAP = 2
LoadObserver = Callable[[str, float], None]


class Scheduler:
    def __init__(self, store: ModelStore, engine: Any, settings: Settings, *,
                 on_load: LoadObserver | None = None, remote_engine: Any = None) -> None:
        self._store = store
        self._engine = engine
        self._settings = settings
        self._on_load = on_load
        self._names = ModelNameResolver(settings.model_aliases, settings.default_model)
        self._configs = ModelConfigFile(store.root)
        self._upstreams = UpstreamRegistry(store.root)
        self._remote_engine = remote_engine
        self._registering = asyncio.Lock()
        self._slots: dict[str, RunnerSlot] = {}
        self._failed_loads: dict[str, tuple[float, ModelRunnerError]] = {}
        self._placement = asyncio.Lock()
        self._configuring = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._watchers: list[asyncio.Task[None]] = []
        self.memory_budget_bytes = settings.memory_budget_bytes or default_budget_bytes()
        self.default_keep_alive_s = parse_keep_alive(settings.default_keep_alive) or 0.0

    @property
    def backend_name(self) -> str:
        return self._engine.name

    async def start(self) -> None:
        await asyncio.to_thread(self._configs.load)
        await asyncio.to_thread(self._upstreams.load)
        self._watchers = [asyncio.create_task(self._unload_idle_forever()),
                          asyncio.create_task(self._check_health_forever())]

    async def close(self) -> None:
        """Stop every worker. Requests still running fail; the server drains them before calling this."""
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        slots = list(self._slots.values())
        self._slots.clear()
        await asyncio.gather(*(self._stop_slot(slot) for slot in slots), return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def resolve(self, requested: str) -> StoredModel:
        """The stored model a client's name refers to, through aliases and the Claude fallback."""
        last_error: ModelRunnerError = ModelNotFound(requested)
        for candidate in self._names.candidates(requested):
            remote = self._upstream_as_model(candidate)
            if remote is not None:
                return remote
            try:
                return await asyncio.to_thread(self._store.find, candidate)
            except ModelNotFound as exc:
                last_error = exc if candidate == requested else ModelNotFound(requested)
        raise last_error

    @contextlib.asynccontextmanager
    async def acquire(
        self, requested: str, *, keep_alive: str | float | None = None, needs_slot: bool = True
    ) -> AsyncIterator[Lease]:
        """Lend the runner for `requested`, loading it first if needed and waiting for a free slot.
        `needs_slot=False` is for work the engine serves beside generation (rendering, tokenising)."""
        if needs_slot:
            async with await self.reserve(requested, keep_alive=keep_alive) as lease:
                yield lease
            return
        requested_keep_alive = parse_keep_alive(keep_alive)
        model = await self.resolve(requested)
        slot = await self._ready_slot(model)
        slot.borrowers += 1  # keeps the runner from being unloaded under this request
        try:
            yield Lease(model=model, runner=slot.runner, requested=requested, label=slot.label,
                        context_size=slot.config.context_size)
        finally:
            slot.borrowers -= 1
            self._after_use(slot, requested_keep_alive)

    async def reserve(self, requested: str, *, keep_alive: str | float | None = None) -> Reservation:
        """Load the model if needed and take a generation slot or a place in its queue now, so that a full
        queue is refused before a stream has started; `async with` the reservation waits for the slot."""
        model = await self.resolve(requested)
        slot = await self._ready_slot(model)
        place = slot.gate.reserve()
        return Reservation(self._lease_after(place, model, slot, requested, parse_keep_alive(keep_alive)), place)

    @contextlib.asynccontextmanager
    async def _lease_after(self, place: Place, model: StoredModel, slot: RunnerSlot, requested: str,
                           keep_alive_s: float | None) -> AsyncIterator[Lease]:
        slot = await self._slot_after_wait(place, model, slot)
        try:
            yield Lease(model=model, runner=slot.runner, requested=requested, label=slot.label,
                        context_size=slot.config.context_size)
        finally:
            slot.gate.leave()
            self._after_use(slot, keep_alive_s)

    async def _slot_after_wait(self, place: Place, model: StoredModel, slot: RunnerSlot) -> RunnerSlot:
        """The slot `place` queued for, or, if that runner was reaped while this request waited, a slot
        on a fresh one (queueing again there)."""
        while True:
            try:
                await place.wait()
            except EngineFailed:
                if self._slots.get(model.id) is slot:
                    raise
            else:
                if self._slots.get(model.id) is slot and slot.runner is not None and slot.runner.is_alive:
                    return slot
                slot.gate.leave()
            slot = await self._ready_slot(model)
            place = slot.gate.reserve()

    def _after_use(self, slot: RunnerSlot, keep_alive_s: float | None) -> None:
        slot.touch()
        if keep_alive_s is not None:
            slot.keep_alive_s = keep_alive_s
        if slot.is_idle and slot.keep_alive_s == 0:
            self._retire(slot, "keep_alive is 0")

    def snapshot(self) -> list[dict[str, Any]]:
        return [slot.describe(self.backend_name) for slot in self._slots.values()]

    def memory_in_use_bytes(self) -> int:
        return sum(slot.estimate.total_bytes for slot in self._slots.values())

    def worker_log_lines(self) -> dict[str, list[str]]:
        """Recent stderr lines of every loaded worker, by model label."""
        return {slot.label: list(getattr(slot.runner, "log_lines", [])) for slot in self._slots.values()
                if slot.runner is not None}

    async def unload(self, *, models: list[str] | None = None) -> int:
        """Unload idle runners (all, or those of `models`); runners in use are left alone."""
        wanted: set[str] | None = None
        if models is not None:
            wanted = set()
            for name in models:
                with contextlib.suppress(ModelNotFound):
                    wanted.add((await self.resolve(name)).id)
        return await self.unload_ids(wanted)

    async def unload_ids(self, model_ids: set[str] | None) -> int:
        """Unload the idle runners of these model IDs (all when None), e.g. of a model just deleted."""
        victims = [s for s in self._slots.values()
                   if s.is_idle and (model_ids is None or s.model.id in model_ids)]
        for slot in victims:
            self._slots.pop(slot.model.id, None)
        await asyncio.gather(*(self._stop_slot(slot, "unload requested") for slot in victims))
        return len(victims)

    async def configure(self, requested: str, body: dict[str, Any]) -> tuple[StoredModel, ModelSettings]:
        """Change and persist one model's settings. An idle runner is stopped so that the next request
        loads it with the new settings; a busy one is left alone and the change refused."""
        model = await self.resolve(requested)
        async with self._configuring:
            updated = apply_configure_body(self._configs.settings_for(model.id), body)
            runner_config(model, updated, self._settings)
            slot = self._slots.get(model.id)
            if slot is not None and not slot.is_idle:
                raise Conflict(f"{slot.label} is busy ({slot.gate.active} running, {slot.gate.waiting} waiting"
                               f"{', loading' if slot.is_loading else ''}); configure it when it is idle")
            if slot is not None:
                self._retire(slot, "its configuration changed")
            self._failed_loads.pop(model.id, None)
            await asyncio.to_thread(self._configs.save, model.id, self._label(model), updated)
        return model, updated

    async def configurations(self, requested: str | None = None) -> list[dict[str, Any]]:
        """Stored configurations, all or that of one model."""
        if requested is not None:
            model = await self.resolve(requested)
            return [{"model": self._label(model), "id": model.id, **self._configs.settings_for(model.id).to_api()}]
        return [{"model": entry.get("model"), "id": model_id,
                 **ModelSettings.from_stored(entry.get("settings", {})).to_api()}
                for model_id, entry in self._configs.entries().items()]

    def runner_config_for(self, model: StoredModel) -> RunnerConfig:
        return runner_config(model, self._configs.settings_for(model.id), self._settings)

    async def _ready_slot(self, model: StoredModel) -> RunnerSlot:
        while True:
            slot = self._slots.get(model.id)
            if slot is not None and slot.runner is not None and not slot.runner.is_alive:
                self._reap(slot, "its worker exited")
                slot = None
            if slot is None:
                slot = await self._place(model)
            if slot.runner is not None:
                return slot
            assert slot.loading is not None
            await asyncio.shield(slot.loading)
            if self._slots.get(model.id) is slot and slot.runner is not None:
                return slot

    async def _place(self, model: StoredModel) -> RunnerSlot:
        """Register a loading slot for `model` once there is memory for it."""
        async with self._placement:
            existing = self._slots.get(model.id)
            if existing is not None:
                return existing
            failed = self._failed_loads.get(model.id)
            if failed is not None and time.monotonic() - failed[0] < FAILED_LOAD_COOLDOWN_S:
                raise failed[1]
            settings = self._configs.settings_for(model.id)
            label = self._label(model)
            if is_remote(model):
                config, estimate = self._remote_config(model), MemoryEstimate(0, 0, 0)
            else:
                config = runner_config(model, settings, self._settings)
                estimate = estimate_memory(model, config)
            await self._make_room(label, estimate.total_bytes)
            keep_alive = math.inf if is_remote(model) else parse_keep_alive(settings.keep_alive)
            slot = RunnerSlot(model=model, label=label, config=config, estimate=estimate,
                              queue_limit=self._settings.max_queued_requests,
                              keep_alive_s=self.default_keep_alive_s if keep_alive is None else keep_alive,
                              mode=settings.mode or "completion")
            slot.loading = asyncio.create_task(self._load(slot))
            self._slots[model.id] = slot
            return slot

    async def _make_room(self, label: str, needed_bytes: int) -> None:
        budget = self.memory_budget_bytes
        if needed_bytes > budget:
            raise InsufficientMemory(f"not enough memory for {label}: needs {describe_bytes(needed_bytes)}, "
                                     f"available {describe_bytes(budget)} (the whole memory budget)")
        while self.memory_in_use_bytes() + needed_bytes > budget:
            idle = sorted((s for s in self._slots.values() if s.is_idle), key=lambda s: s.last_used_monotonic)
            if not idle:
                available = budget - self.memory_in_use_bytes()
                raise InsufficientMemory(f"not enough memory for {label}: needs {describe_bytes(needed_bytes)}, "
                                         f"available {describe_bytes(available)} (the other models are in use)")
            victim = idle[0]
            self._slots.pop(victim.model.id, None)
            await self._stop_slot(victim, f"evicted to make room for {label}")

    async def _load(self, slot: RunnerSlot) -> None:
        started = time.monotonic()
        try:
            if is_remote(slot.model):
                slot.runner = await self._start_remote(slot)
            else:
                bundle = await asyncio.to_thread(self._store.ensure_bundle, slot.model)
                files = ModelFiles(
                    model_id=slot.model.id,
                    gguf_path=bundle.gguf_path,
                    mmproj_path=bundle.mmproj_path,
                    chat_template_path=bundle.chat_template_path,
                )
                slot.runner = await self._engine.start(files, slot.config, label=slot.label)
        except ModelRunnerError as exc:
            self._forget(slot)
            self._failed_loads[slot.model.id] = (time.monotonic(), exc)
            logger.error("could not load %s: %s", slot.label, exc.message)
            raise
        except BaseException:
            self._forget(slot)
            raise
        self._loaded(slot, started)

    def _loaded(self, slot: RunnerSlot, started: float) -> None:
        self._failed_loads.pop(slot.model.id, None)
        slot.touch()
        seconds = time.monotonic() - started
        if self._on_load is not None:
            self._on_load(slot.label, seconds)
        logger.info("loaded %s in %.2fs (context %d x %d slots, ~%s)", slot.label, seconds,
                    slot.config.context_size, slot.config.parallel_slots, describe_bytes(slot.estimate.total_bytes))

    def _forget(self, slot: RunnerSlot) -> None:
        if self._slots.get(slot.model.id) is slot:
            del self._slots[slot.model.id]

    def _retire(self, slot: RunnerSlot, reason: str) -> None:
        """Take `slot` out of service now and stop its worker in the background."""
        self._forget(slot)
        self._spawn(self._stop_slot(slot, reason))

    def _reap(self, slot: RunnerSlot, reason: str) -> None:
        """A broken runner: kill it, fail its queued requests, let the next request start a fresh one."""
        logger.warning("reaping %s: %s", slot.label, reason)
        kill = getattr(slot.runner, "kill", None)
        if kill is not None:
            kill()
        slot.gate.fail_waiters(EngineFailed(f"the worker for {slot.label} failed: {reason}", retryable=True))
        self._retire(slot, reason)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop_slot(self, slot: RunnerSlot, reason: str = "server stopping") -> None:
        if slot.loading is not None and not slot.loading.done():
            slot.loading.cancel()
            with contextlib.suppress(BaseException):
                await slot.loading
        if slot.runner is not None:
            with contextlib.suppress(Exception):
                await slot.runner.stop()
            logger.info("unloaded %s: %s", slot.label, reason)

    async def _unload_idle_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.keep_alive_check_interval_s)
            now = time.monotonic()
            for slot in list(self._slots.values()):
                if slot.runner is not None and not slot.runner.is_alive:
                    self._reap(slot, "its worker exited")
                elif slot.is_idle and not math.isinf(slot.keep_alive_s) \
                        and now - slot.last_used_monotonic >= slot.keep_alive_s:
                    self._retire(slot, f"idle for {slot.keep_alive_s:g}s")

    async def _check_health_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_check_interval_s)
            loaded = [slot for slot in self._slots.values() if slot.runner is not None]
            results = await asyncio.gather(*(self._is_healthy(slot) for slot in loaded))
            for slot, healthy in zip(loaded, results):
                slot.health_failures = 0 if healthy else slot.health_failures + 1
                if slot.health_failures >= HEALTH_FAILURES_BEFORE_REAP and self._slots.get(slot.model.id) is slot:
                    self._reap(slot, f"no answer to {slot.health_failures} health checks")

    async def _is_healthy(self, slot: RunnerSlot) -> bool:
        check = getattr(slot.runner, "is_healthy", None)
        if check is None:
            return bool(slot.runner.is_alive)
        try:
            return bool(await check(self._settings.health_check_timeout_s))
        except Exception:
            return False

    # --- remote upstreams (issue #12): a registered upstream is a model like any other. The seam is
    # here and in resolve/_place/_load above; the engine itself lives in engines/remote/.

    def upstream_models(self) -> list[StoredModel]:
        return [upstream_model(upstream) for upstream in self._upstreams.all()]

    def upstreams(self) -> list[Upstream]:
        return self._upstreams.all()

    async def add_upstream(self, upstream: Upstream) -> None:
        """Persist a checked upstream; its name must not be taken by a stored model or another upstream."""
        async with self._registering:
            try:
                await asyncio.to_thread(self._store.find, upstream.name)
            except ModelNotFound:
                pass
            else:
                raise Conflict(f"{upstream.name!r} already names a stored model; choose another name")
            await asyncio.to_thread(self._upstreams.add, upstream)

    async def remove_upstream(self, name: str) -> Upstream:
        """Forget an upstream and stop its runner: requests still streaming from it end with an error."""
        async with self._registering:
            upstream = await asyncio.to_thread(self._upstreams.remove, name)
        slot = self._slots.get(upstream_model(upstream).id)
        if slot is not None:
            slot.gate.fail_waiters(NotFound(f"upstream {name!r} was removed"))
            self._retire(slot, "its upstream was removed")
        return upstream

    def upstream_status(self) -> dict[str, list[dict[str, Any]]]:
        """Per replica health, in-flight and latency of each loaded upstream, by name."""
        return {slot.label: slot.runner.describe_replicas() for slot in self._slots.values()
                if slot.runner is not None and hasattr(slot.runner, "describe_replicas")}

    def _upstream_as_model(self, name: str) -> StoredModel | None:
        upstream = self._upstreams.get(name)
        return upstream_model(upstream) if upstream is not None else None

    def _remote_config(self, model: StoredModel) -> RunnerConfig:
        upstream = self._upstreams.get(model.tags[0])
        if upstream is None:
            raise ModelNotFound(model.tags[0])
        return RunnerConfig(context_size=upstream.context_size or self._settings.context_size_cap,
                            parallel_slots=upstream.max_concurrency * len(upstream.replicas))

    async def _start_remote(self, slot: RunnerSlot) -> Any:
        upstream = self._upstreams.get(slot.model.tags[0])
        if upstream is None or self._remote_engine is None:
            raise ModelNotFound(slot.model.tags[0])
        return await self._remote_engine.start_upstream(upstream, label=slot.label)

    @staticmethod
    def _label(model: StoredModel) -> str:
        return display_name(model.tags[0]) if model.tags else model.short_id
