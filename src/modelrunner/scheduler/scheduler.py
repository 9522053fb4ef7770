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
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from modelrunner.core.errors import (
    Conflict,
    EngineFailed,
    InsufficientMemory,
    ModelNotFound,
    ModelRunnerError,
    NotFound,
)
from modelrunner.engines.base import Engine, ModelFiles, RunnerConfig, RunnerMode
from modelrunner.engines.registry import ENGINE_TYPES
from modelrunner.engines.remote.upstream import Upstream
from modelrunner.scheduler.admission import Place, Yielding
from modelrunner.scheduler.api_shapes import configuration_entry, runner_entry
from modelrunner.scheduler.keep_alive import parse_keep_alive
from modelrunner.scheduler.memory import default_budget_bytes, describe_bytes, describe_model
from modelrunner.scheduler.model_config import ModelConfigFile, ModelSettings, apply_configure_body
from modelrunner.scheduler.names import ModelNameResolver
from modelrunner.scheduler.placement import eviction_victims
from modelrunner.scheduler.runner_slot import Lease, Reservation, RunnerSlot, SlotKey, runner_config, runner_mode
from modelrunner.scheduler.upstreams import UpstreamRegistry, upstream_model
from modelrunner.settings import Settings
from modelrunner.store.gguf_header import GGUFFormatError, read_pooling, read_special_tokens
from modelrunner.store.models import Bundle, StoredModel, display_name
from modelrunner.store.store import ModelStore

__all__ = ["Lease", "Reservation", "RunnerSlot", "Scheduler"]

logger = logging.getLogger(__name__)

FAILED_LOAD_COOLDOWN_S = 5.0
HEALTH_FAILURES_BEFORE_REAP = 2
RESOLVED_FRESH_S = 1.0
"""How long a name resolved from the store answers from memory: this server's own store changes are
seen at once (the store's revision), another process's within this long."""
MAX_RESOLVED_NAMES = 256
LoadObserver = Callable[[str, float], None]


class Scheduler:
    def __init__(self, store: ModelStore, engine: Engine, settings: Settings, *,
                 on_load: LoadObserver | None = None, extra_engines: Sequence[Engine] = ()) -> None:
        """`engine` serves stored models; `extra_engines` serve the models they name (the remote
        engine serves registered upstreams: without it, none is loaded or registered)."""
        self._store = store
        self._engine = engine
        self._engines: dict[str, Engine] = {engine.name: engine, **{extra.name: extra for extra in extra_engines}}
        self._upstreams = UpstreamRegistry(store.root)
        self._registering = asyncio.Lock()
        self._settings = settings
        self._on_load = on_load
        self._names = ModelNameResolver(settings.model_aliases, settings.default_model)
        self._configs = ModelConfigFile(store.root)
        self._slots: dict[SlotKey, RunnerSlot] = {}
        self._failed_loads: dict[SlotKey, tuple[float, ModelRunnerError]] = {}
        self._resolved: dict[str, tuple[int, float, StoredModel]] = {}
        self._placement = asyncio.Lock()
        self._configuring = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._watchers: list[asyncio.Task[None]] = []
        self.memory_budget_bytes = settings.memory_budget_bytes or default_budget_bytes()
        self.default_keep_alive_s = parse_keep_alive(settings.default_keep_alive) or 0.0

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def engines(self) -> list[Engine]:
        """Every engine this runner serves with, the default first."""
        return list(self._engines.values())

    @property
    def serves_upstreams(self) -> bool:
        return self._upstreams.engine in self._engines

    async def start(self) -> None:
        await asyncio.to_thread(self._configs.load)
        if self.serves_upstreams:  # persisted upstreams are fetched from only when upstreams are turned on
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

    async def resolve(self, requested: str, *, fresh: bool = False) -> StoredModel:
        """The stored model a client's name refers to, through aliases and the Claude fallback; in memory
        (no thread hop) when the name was resolved within RESOLVED_FRESH_S and this process has not
        written the store since. `fresh`: read the store whatever was remembered, for answers about the
        store itself, which another runner on the same store may have changed within that second."""
        revision, now = self._store.revision, time.monotonic()
        known = self._resolved.get(requested)
        if not fresh and known is not None and known[0] == revision and now - known[1] < RESOLVED_FRESH_S:
            return known[2]
        model = await self._resolve_in_store(requested)
        if len(self._resolved) >= MAX_RESOLVED_NAMES:  # names are the clients' (any claude-* resolves)
            self._resolved.clear()
        self._resolved[requested] = (revision, now, model)
        return model

    async def _resolve_in_store(self, requested: str) -> StoredModel:
        last_error: ModelRunnerError = ModelNotFound(requested)
        for candidate in self._names.candidates(requested):
            upstream = self._upstreams.get(candidate)
            if upstream is not None:
                return self.upstream_model(upstream)
            try:
                return await asyncio.to_thread(self._store.find, candidate)
            except ModelNotFound as exc:
                last_error = exc if candidate == requested else ModelNotFound(requested)
        raise last_error

    @contextlib.asynccontextmanager
    async def acquire(self, requested: str, *, needs_slot: bool = True,
                      model: StoredModel | None = None) -> AsyncIterator[Lease]:
        """Lend the runner for `requested`, loading it first if needed and waiting for a free slot.
        `needs_slot=False` is for work the engine serves beside generation (rendering, tokenising).
        `model`: what `requested` was already resolved to in this request, so it is not resolved again.
        Generation, embedding and reranking take their slot with `reserve`, which also takes a keep-alive,
        background priority and the runner's mode."""
        if needs_slot:
            async with await self.reserve(requested, model=model) as lease:
                yield lease
            return
        model = model or await self.resolve(requested)
        slot = await self._ready_slot(model, self._mode(model, None))
        slot.borrowers += 1  # keeps the runner from being unloaded under this request
        try:
            yield Lease(model=model, runner=slot.runner, requested=requested, label=slot.label,
                        context_size=slot.config.context_size)
        finally:
            slot.borrowers -= 1
            self._after_use(slot, None)

    async def reserve(self, requested: str, *, keep_alive: str | float | None = None,
                      model: StoredModel | None = None, yielding: Yielding | None = None,
                      mode: RunnerMode | None = None) -> Reservation:
        """Load the model if needed and take a generation slot or a place in its queue now, so that a full
        queue is refused before a stream has started; `async with` the reservation waits for the slot."""
        keep_alive_s = parse_keep_alive(keep_alive)  # bad input fails before a slot is taken, never holding one
        model = model or await self.resolve(requested)
        slot = await self._ready_slot(model, self._mode(model, mode))
        place = slot.gate.reserve(yielding)
        try:
            return Reservation(place, model=model, requested=requested,
                               wait=lambda: self._slot_after_wait(place, model, slot, yielding),
                               release=lambda used: self._release(used, keep_alive_s, yielding))
        except BaseException:
            place.give_up()
            raise

    def _release(self, slot: RunnerSlot, keep_alive_s: float | None, yielding: Yielding | None) -> bool:
        is_handed_over = slot.gate.leave(yielding)
        self._after_use(slot, keep_alive_s)
        return is_handed_over

    async def _slot_after_wait(self, place: Place, model: StoredModel, slot: RunnerSlot,
                               yielding: Yielding | None) -> RunnerSlot:
        """The slot `place` queued for, or, if that runner was reaped while this request waited, a slot
        on a fresh one (queueing again there)."""
        while True:
            try:
                await place.wait()
            except EngineFailed:
                if self._slots.get(slot.key) is slot:
                    raise
            else:
                if self._slots.get(slot.key) is slot and slot.runner is not None and slot.runner.is_alive:
                    return slot
                slot.gate.leave(yielding)
            slot = await self._ready_slot(model, slot.mode)
            place = slot.gate.reserve(yielding)

    def _after_use(self, slot: RunnerSlot, keep_alive_s: float | None) -> None:
        slot.touch()
        if keep_alive_s is not None:
            slot.keep_alive_s = keep_alive_s
        if slot.is_idle and slot.keep_alive_s == 0:
            self._retire(slot, "keep_alive is 0")

    def snapshot(self) -> list[dict[str, Any]]:
        return [runner_entry(slot, self._engine_for(slot.model).name) for slot in self._slots.values()]

    def memory_in_use_bytes(self) -> int:
        return sum(slot.estimate.total_bytes for slot in self._slots.values())

    def worker_log_lines(self) -> dict[str, list[str]]:
        """Recent stderr lines of every loaded worker, by model label."""
        return {slot.label if slot.mode == "completion" else f"{slot.label} ({slot.mode})": slot.runner.log_lines
                for slot in self._slots.values() if slot.runner is not None}

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
            self._slots.pop(slot.key, None)
        await asyncio.gather(*(self._stop_slot(slot, "unload requested") for slot in victims))
        return len(victims)

    async def configure(self, requested: str, body: dict[str, Any]) -> tuple[StoredModel, ModelSettings]:
        """Change and persist one model's settings. An idle runner is stopped so that the next request
        loads it with the new settings; a busy one is left alone and the change refused."""
        model = await self.resolve(requested)
        async with self._configuring:
            await asyncio.to_thread(self._configs.refresh)
            updated = apply_configure_body(self._configs.settings_for(model.id), body)
            self._check_fits(model, self._budgeted(model, runner_config(model, updated, self._settings,
                                                                        self._engine_for(model))))
            slots = [slot for slot in self._slots.values() if slot.model.id == model.id]
            for slot in slots:
                if not slot.is_idle:
                    raise Conflict(f"{slot.label} is busy ({slot.gate.active} running, {slot.gate.waiting} "
                                   f"waiting{', loading' if slot.is_loading else ''}); configure it when it is idle")

            def change(current: ModelSettings) -> ModelSettings:  # on the file's settings, under its lock
                merged = apply_configure_body(current, body)
                runner_config(model, merged, self._settings, self._engine_for(model))
                return merged

            updated = await asyncio.to_thread(self._configs.update, model.id, self._label(model), change)
            for slot in slots:  # after the write: a failed write leaves the runners as they were
                self._retire(slot, "its configuration changed")
            for key in [key for key in self._failed_loads if key[0] == model.id]:
                self._failed_loads.pop(key, None)
        return model, updated

    async def configurations(self, requested: str | None = None) -> list[dict[str, Any]]:
        """Stored configurations, all or that of one model (with the context it loads with)."""
        await asyncio.to_thread(self._configs.refresh)
        if requested is not None:
            model = await self.resolve(requested)
            return [{**configuration_entry(self._label(model), model.id, self._configs.settings_for(model.id)),
                     "context-window": self.runner_config_for(model).context_size}]
        return [configuration_entry(entry.get("model"), model_id, ModelSettings.from_stored(entry.get("settings", {})))
                for model_id, entry in self._configs.entries().items()]

    def _check_fits(self, model: StoredModel, config: RunnerConfig) -> None:
        """A configuration whose model can never fit (a context too large, say) is refused up front."""
        needed = self._engine_for(model).estimate_memory(describe_model(model), config).total_bytes
        if needed > self.memory_budget_bytes:
            raise InsufficientMemory(
                f"not enough memory for {self._label(model)} with a context of {config.context_size} tokens: "
                f"needs {describe_bytes(needed)}, available {describe_bytes(self.memory_budget_bytes)} "
                "(the whole memory budget)")

    def runner_config_for(self, model: StoredModel) -> RunnerConfig:
        return self._budgeted(model, runner_config(model, self._configs.settings_for(model.id), self._settings,
                                                   self._engine_for(model)))

    def _budgeted(self, model: StoredModel, config: RunnerConfig) -> RunnerConfig:
        """`config` with the engine's memory extras (a prompt cache, say) sized from the budget."""
        return self._engine_for(model).within_budget(describe_model(model), config, self.memory_budget_bytes)

    def _mode(self, model: StoredModel, requested: RunnerMode | None) -> RunnerMode:
        return runner_mode(self._configs.settings_for(model.id), requested)

    async def _ready_slot(self, model: StoredModel, mode: RunnerMode) -> RunnerSlot:
        key = (model.id, mode)
        while True:
            slot = self._slots.get(key)
            if slot is not None and slot.runner is not None and not slot.runner.is_alive:
                self._reap(slot, "its worker exited")
                slot = None
            if slot is None:
                slot = await self._place(model, mode)
            if slot.runner is not None:
                return slot
            assert slot.loading is not None
            slot.borrowers += 1  # a slot that just loaded is not idle before its waiters have taken it
            try:
                await asyncio.shield(slot.loading)
            finally:
                slot.borrowers -= 1
            if self._slots.get(key) is slot and slot.runner is not None:
                return slot

    async def _place(self, model: StoredModel, mode: RunnerMode) -> RunnerSlot:
        """Register a loading slot for `model` in `mode` once there is memory for it."""
        key = (model.id, mode)
        async with self._placement:
            existing = self._slots.get(key)
            if existing is not None:
                return existing
            failed = self._failed_loads.get(key)
            if failed is not None and time.monotonic() - failed[0] < FAILED_LOAD_COOLDOWN_S:
                raise failed[1]
            await asyncio.to_thread(self._configs.refresh)
            settings = self._configs.settings_for(model.id)
            engine = self._engine_for(model)
            config = self._budgeted(model, runner_config(model, settings, self._settings, engine, mode))
            label = self._label(model)
            estimate = engine.estimate_memory(describe_model(model), config)
            await self._make_room(label, estimate.total_bytes)
            keep_alive = parse_keep_alive(settings.keep_alive)
            slot = RunnerSlot(model=model, label=label, config=config, estimate=estimate,
                              queue_limit=self._settings.max_queued_requests,
                              keep_alive_s=self.default_keep_alive_s if keep_alive is None else keep_alive)
            slot.loading = asyncio.create_task(self._load(slot))
            self._slots[key] = slot
            return slot

    async def _make_room(self, label: str, needed_bytes: int) -> None:
        victims = eviction_victims(self._slots.values(), label=label, needed_bytes=needed_bytes,
                                   budget_bytes=self.memory_budget_bytes)
        for victim in victims:
            self._slots.pop(victim.key, None)
            await self._stop_slot(victim, f"evicted to make room for {label}")

    async def _load(self, slot: RunnerSlot) -> None:
        started = time.monotonic()
        try:
            source = await self._source_of(slot.model, slot.mode)
            slot.runner = await self._engine_for(slot.model).start(source, slot.config, label=slot.label)
        except ModelRunnerError as exc:
            self._forget(slot)
            self._failed_loads[slot.key] = (time.monotonic(), exc)
            logger.error("could not load %s: %s", slot.label, exc.message)
            raise
        except BaseException:
            self._forget(slot)
            raise
        self._failed_loads.pop(slot.key, None)
        slot.touch()
        seconds = time.monotonic() - started
        if self._on_load is not None:
            self._on_load(slot.label, seconds)
        logger.info("loaded %s in %.2fs (context %d x %d slots, ~%s)", slot.label, seconds,
                    slot.config.context_size, slot.config.parallel_slots, describe_bytes(slot.estimate.total_bytes))

    async def _source_of(self, model: StoredModel, mode: RunnerMode) -> ModelFiles | Upstream:
        """What the model's engine starts from: an upstream's record, or the stored model's files."""
        upstream = self._upstreams.of_model(model)
        if upstream is not None:
            return upstream
        return await asyncio.to_thread(self._model_files, model, mode)

    def _engine_for(self, model: StoredModel) -> Engine:
        """The engine a model names (an upstream's is `remote`); stored models have the default one. A
        model of a known engine this runner was started without (upstreams turned off) is not found."""
        name = model.config.get("engine")
        if name not in ENGINE_TYPES:
            return self._engine
        engine = self._engines.get(name)
        if engine is None:
            raise ModelNotFound(self._label(model))
        return engine

    def _model_files(self, model: StoredModel, mode: RunnerMode) -> ModelFiles:
        """What the engine opens for `model` (blocking: reads the GGUF header); the pooling facts only
        for the embedding and reranking runners that need them."""
        bundle: Bundle = self._store.ensure_bundle(model)
        try:
            special_tokens: tuple[str, ...] | None = tuple(read_special_tokens(bundle.gguf_path))
        except (OSError, GGUFFormatError) as exc:
            logger.warning("cannot read the special tokens of %s (%s)", model.short_id, exc)
            special_tokens = None
        pooling_type, has_ranking_head = read_pooling(bundle.gguf_path) if mode != "completion" else (None, False)
        return ModelFiles(model_id=model.id, gguf_path=bundle.gguf_path, mmproj_path=bundle.mmproj_path,
                          chat_template_path=bundle.chat_template_path, special_tokens=special_tokens,
                          pooling_type=pooling_type, has_ranking_head=has_ranking_head)

    def _forget(self, slot: RunnerSlot) -> None:
        if self._slots.get(slot.key) is slot:
            del self._slots[slot.key]

    def _retire(self, slot: RunnerSlot, reason: str) -> None:
        """Take `slot` out of service now and stop its worker in the background."""
        self._forget(slot)
        self._spawn(self._stop_slot(slot, reason))

    def _reap(self, slot: RunnerSlot, reason: str) -> None:
        """A broken runner: kill it, fail its queued requests, let the next request start a fresh one."""
        logger.warning("reaping %s: %s", slot.label, reason)
        if slot.runner is not None:
            slot.runner.kill()
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
                if slot.health_failures >= HEALTH_FAILURES_BEFORE_REAP and self._slots.get(slot.key) is slot:
                    self._reap(slot, f"no answer to {slot.health_failures} health checks")

    async def _is_healthy(self, slot: RunnerSlot) -> bool:
        assert slot.runner is not None
        try:
            return await slot.runner.is_healthy(self._settings.health_check_timeout_s)
        except Exception:
            return False

    # --- upstreams (the remote engine's models): registered, listed and removed here, served like any model

    def upstreams(self) -> list[Upstream]:
        return self._upstreams.all()

    @property
    def upstream_engine(self) -> str:
        return self._upstreams.engine

    def upstream_models(self) -> list[StoredModel]:
        """The registered upstreams as models, for every model list."""
        return [self.upstream_model(upstream) for upstream in self._upstreams.all()]

    def upstream_model(self, upstream: Upstream) -> StoredModel:
        return upstream_model(upstream, default_context_size=self._settings.context_size_cap)

    def runner_details(self, model: StoredModel) -> dict[str, Any] | None:
        """What a loaded model's runner tells of itself (an upstream's replicas), None when not loaded."""
        slot = self._slots.get((model.id, "completion"))
        return slot.runner.describe() if slot is not None and slot.runner is not None else None

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
            self._resolved.clear()

    async def remove_upstream(self, name: str) -> Upstream:
        """Forget an upstream and stop its runner: requests still streaming from it end with an error."""
        async with self._registering:
            upstream = await asyncio.to_thread(self._upstreams.remove, name)
            self._resolved.clear()  # a name resolved a moment ago must not still find it
        model_id = self.upstream_model(upstream).id
        for slot in [slot for key, slot in self._slots.items() if key[0] == model_id]:
            slot.gate.fail_waiters(NotFound(f"upstream {name!r} was removed"))
            self._retire(slot, "its upstream was removed")
        return upstream

    @staticmethod
    def _label(model: StoredModel) -> str:
        return display_name(model.tags[0]) if model.tags else model.short_id
