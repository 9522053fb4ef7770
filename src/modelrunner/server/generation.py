"""Starting a generation on a leased runner, shared by every API's routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from modelrunner.core.chat import EngineChunk
from modelrunner.scheduler.admission import Yielding
from modelrunner.scheduler.scheduler import Lease, Scheduler
from modelrunner.server.recording import recorded_lease
from modelrunner.server.streaming import prepend, record_usage

StartGeneration = Callable[[Lease], AsyncIterator[EngineChunk]]


@dataclass
class OpenGeneration:
    """A generation that has produced its first chunk. `cleanup` closes the engine stream and
    returns the lease, in that order."""

    lease: Lease
    chunks: AsyncIterator[EngineChunk]
    cleanup: contextlib.AsyncExitStack


async def open_lease(
    scheduler: Scheduler, requested: str, *, keep_alive: str | None, yielding: Yielding | None = None
) -> tuple[Lease, contextlib.AsyncExitStack]:
    stack = contextlib.AsyncExitStack()
    try:
        lease = await stack.enter_async_context(scheduler.acquire(requested, keep_alive=keep_alive, yielding=yielding))
    except BaseException:
        await stack.aclose()
        raise
    return lease, stack


async def start_chunks(
    lease: Lease, stack: contextlib.AsyncExitStack, start: StartGeneration, state: Any
) -> AsyncIterator[EngineChunk]:
    """Start the engine stream under `stack`, so it is closed before the lease is returned."""
    state.served_model = lease.label
    engine_chunks = start(recorded_lease(lease, state))
    stack.push_async_callback(engine_chunks.aclose)  # type: ignore[attr-defined]
    recorded = record_usage(engine_chunks, state)
    stack.push_async_callback(recorded.aclose)
    return recorded


async def open_generation(
    scheduler: Scheduler, requested: str, *, keep_alive: str | None, start: StartGeneration, state: Any,
    yielding: Yielding | None = None,
) -> OpenGeneration:
    """Lease the runner, start the engine, and wait for the first chunk, so that load failures and
    engine refusals (context overflow...) surface as HTTP errors before any byte is sent."""
    lease, stack = await open_lease(scheduler, requested, keep_alive=keep_alive, yielding=yielding)
    try:
        chunks = await start_chunks(lease, stack, start, state)
        first = await anext(chunks)
    except BaseException:
        await stack.aclose()
        raise
    return OpenGeneration(lease=lease, chunks=prepend(first, chunks), cleanup=stack)


def is_preload_only(headers: Any) -> bool:
    return headers.get("x-preload-only", "").strip().lower() == "true"
