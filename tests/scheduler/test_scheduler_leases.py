"""The scheduler in-process with the real llama.cpp engine: a runner lent without a generation slot
(tokenizing, templates) neither waits behind generations nor is unloaded under its borrower."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modelrunner.engines.llamacpp.engine import LlamaCppEngine
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.settings import Settings
from tests.support.lifecycle import store_with_models


def test_a_borrowed_runner_skips_the_queue_and_is_not_unloaded(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    settings = Settings(store_path=store.root, parallel_slots=1, threads=1, context_size_cap=512,
                        max_queued_requests=0, import_default_model=False)

    async def scenario() -> None:
        scheduler = Scheduler(store, LlamaCppEngine(load_timeout_s=60), settings)
        await scheduler.start()
        try:
            async with scheduler.acquire("ai/tiny"):
                async with scheduler.acquire("ai/tiny", needs_slot=False) as borrowed:
                    assert await borrowed.runner.count_tokens("hello world") > 0
                    (entry,) = scheduler.snapshot()
                    assert entry["active_requests"] == 1 and entry["in_use"] is True
            async with scheduler.acquire("ai/tiny", needs_slot=False):
                assert await scheduler.unload() == 0
                assert len(scheduler.snapshot()) == 1
            assert await scheduler.unload() == 1
            assert scheduler.snapshot() == []
        finally:
            await scheduler.close()

    asyncio.run(scenario())
