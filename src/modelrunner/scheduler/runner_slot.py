"""What the scheduler keeps for one model's runner, what it lends to a request, and how a model's
stored settings become the RunnerConfig an engine starts it with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from modelrunner.engines.base import RUNNER_MODES, Engine, MemoryEstimate, Runner, RunnerConfig, RunnerMode
from modelrunner.scheduler.admission import AdmissionGate, Place
from modelrunner.scheduler.keep_alive import DEFAULT_KEEP_ALIVE_S
from modelrunner.scheduler.model_config import ModelSettings
from modelrunner.settings import Settings
from modelrunner.store.models import StoredModel

FALLBACK_CONTEXT_SIZE = 4096
SlotKey = tuple[str, str]
"""A runner is one model in one mode: (model ID, mode)."""
ResolvedModel = StoredModel
"""What `Scheduler.resolve` returns for a client's model name, and what it takes back to skip resolving."""


@dataclass
class RunnerSlot:
    """One model's runner, loaded or loading."""

    model: StoredModel
    label: str
    config: RunnerConfig
    estimate: MemoryEstimate
    queue_limit: int
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    loading: asyncio.Task[Any] | None = None
    runner: Runner | None = None
    health_failures: int = 0
    borrowers: int = 0
    last_used_monotonic: float = field(default_factory=time.monotonic)
    last_used_wall: float = field(default_factory=time.time)
    gate: AdmissionGate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = AdmissionGate(self.config.parallel_slots, self.queue_limit, label=self.label)

    @property
    def is_loading(self) -> bool:
        return self.runner is None

    @property
    def is_idle(self) -> bool:
        """Loaded, with nothing running, waiting or borrowing it: safe to stop."""
        return not self.is_loading and self.gate.is_idle and self.borrowers == 0

    @property
    def mode(self) -> RunnerMode:
        return self.config.mode

    @property
    def key(self) -> SlotKey:
        return self.model.id, self.mode

    def touch(self) -> None:
        self.last_used_monotonic = time.monotonic()
        self.last_used_wall = time.time()


@dataclass(frozen=True)
class Lease:
    """A runner lent to one request; `requested` is the client's name for the model, `label` the name
    of the model that serves it (they differ for aliases and the `claude-*` fallback)."""

    model: StoredModel
    runner: Runner
    requested: str
    label: str
    context_size: int


class Reservation:
    """A generation slot, or a place in the queue for one, taken before the client is answered.
    `async with` waits for the slot (`wait`) and lends the runner, then gives the slot back (`release`,
    which says whether a queued request took it); `give_up` returns one never entered."""

    __slots__ = ("_place", "_model", "_requested", "_wait", "_release", "_slot", "_is_entered")

    def __init__(self, place: Place, *, model: StoredModel, requested: str,
                 wait: Callable[[], Awaitable[RunnerSlot]], release: Callable[[RunnerSlot], bool]) -> None:
        self._place = place
        self._model = model
        self._requested = requested
        self._wait = wait
        self._release = release
        self._slot: RunnerSlot | None = None
        self._is_entered = False

    async def __aenter__(self) -> Lease:
        self._is_entered = True
        slot = self._slot = await self._wait()
        return Lease(model=self._model, runner=slot.runner, requested=self._requested,  # type: ignore[arg-type]
                     label=slot.label, context_size=slot.config.context_size)

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: Any) -> None:
        if self._slot is not None and self._release(self._slot) and exc_type is None:
            # The slot went to a queued request: let it reach the engine before this one's answer is
            # decoded, encoded and logged, so that the engine's slot does not stand idle meanwhile.
            await asyncio.sleep(0)

    def give_up(self) -> None:
        if not self._is_entered:
            self._place.give_up()


def trained_context(model: StoredModel) -> int | None:
    trained = (model.config.get("gguf") or {}).get(f"{model.config.get('architecture')}.context_length")
    try:
        return int(trained) if trained else None
    except ValueError:
        return None


def runner_mode(settings: ModelSettings, requested: RunnerMode | None) -> RunnerMode:
    """The mode a request needs, else the one configured for the model, else completion."""
    if requested is not None:
        return requested
    return next((mode for mode in RUNNER_MODES if mode == settings.mode), "completion")


def runner_config(model: StoredModel, settings: ModelSettings, defaults: Settings, engine: Engine,
                  mode: RunnerMode | None = None) -> RunnerConfig:
    """Stored settings first, then the model's packaged context size, then the server's defaults; the
    engine validates the runtime flags, which raise InvalidRequest naming the first it refuses. Only an
    explicit context (configured or packaged) goes past the trained one, which the engine is told, to
    stretch its positions as it can.
    `mode`: the runner a request needs (None: the mode configured for the model)."""
    flags = engine.parse_runtime_flags(settings.runtime_flags)
    trained = trained_context(model)
    context = (settings.context_size or model.context_size
               or min(trained or FALLBACK_CONTEXT_SIZE, defaults.context_size_cap))
    budget = settings.reasoning_budget_tokens
    if budget is None:
        budget = flags.runner.get("reasoning_budget_tokens")
    if settings.reasoning is False:
        budget = 0
    return RunnerConfig(
        context_size=context,
        parallel_slots=int(flags.runner.get("parallel_slots", model.config.get("parallel_slots")
                                            or defaults.parallel_slots)),
        threads=int(flags.runner.get("threads", defaults.threads)),
        reasoning_budget_tokens=budget,
        runtime_settings=flags.engine,
        reasoning=settings.reasoning,
        mode=runner_mode(settings, mode),
        trained_context_size=trained,
    )
