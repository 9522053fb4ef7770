"""The batch store on a real SQLite file: one result per request, batches end with their last result,
cancel/expiry settle what has not run, retention deletes ended batches only, and a reopened store
has exactly what was committed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelrunner.batches.records import CANCELED, ENDED, EXPIRED, IN_PROGRESS, SUCCEEDED, NewRequest
from modelrunner.batches.store import BatchStore
from modelrunner.core.errors import InvalidRequest, NotFound

NOW = 1_000_000.0


def _requests(count: int) -> list[NewRequest]:
    return [NewRequest(f"r{n}", b'{"n": %d}' % n) for n in range(count)]


async def _opened(root: Path) -> BatchStore:
    store = BatchStore(root)
    await store.open()
    return store


def test_a_result_is_stored_once_and_the_last_one_ends_the_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await _opened(tmp_path)
        batch = await store.create(_requests(2), now=NOW, expires_at=NOW + 60)
        assert batch.counts["processing"] == 2 and batch.processing_status == IN_PROGRESS
        assert await store.record_result(batch.id, 0, SUCCEEDED, b'{"type":"succeeded"}', now=NOW + 1)
        assert not await store.record_result(batch.id, 0, SUCCEEDED, b'{"type":"succeeded"}', now=NOW + 1)
        assert (await store.get(batch.id)).counts == {"succeeded": 1, "errored": 0, "canceled": 0, "expired": 0,
                                                       "processing": 1}
        assert await store.record_result(batch.id, 1, SUCCEEDED, b'{"type":"succeeded"}', now=NOW + 2)
        ended = await store.get(batch.id)
        assert ended.processing_status == ENDED and ended.ended_at == NOW + 2
        results = await store.results(batch.id, after_index=-1, limit=10)
        assert [(index, custom_id) for index, custom_id, _ in results] == [(0, "r0"), (1, "r1")]
        await store.close()

    asyncio.run(scenario())


def test_settling_leaves_running_requests_then_ends_when_they_finish(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await _opened(tmp_path)
        batch = await store.create(_requests(3), now=NOW, expires_at=NOW + 60)
        await store.cancel(batch.id, now=NOW + 1)
        settled, count = await store.settle(batch.id, CANCELED, b'{"type":"canceled"}', now=NOW + 1, running=[2])
        assert count == 2 and settled.processing_status == "canceling"
        assert await store.unfinished(limit=10, now=NOW + 1, skip=()) == []  # a canceling batch runs nothing new
        await store.record_result(batch.id, 2, SUCCEEDED, b'{"type":"succeeded"}', now=NOW + 2)
        ended = await store.get(batch.id)
        assert ended.processing_status == ENDED and ended.counts["canceled"] == 2 and ended.counts["succeeded"] == 1
        await store.close()

    asyncio.run(scenario())


def test_unfinished_requests_come_oldest_batch_first_skipping_running_and_expired(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await _opened(tmp_path)
        old = await store.create(_requests(2), now=NOW, expires_at=NOW + 60)
        expired = await store.create(_requests(1), now=NOW, expires_at=NOW + 1)
        new = await store.create(_requests(1), now=NOW, expires_at=NOW + 60)
        pending = await store.unfinished(limit=10, now=NOW + 2, skip={(old.id, 0)})
        assert [(p.batch_id, p.index) for p in pending] == [(old.id, 1), (new.id, 0)]
        assert expired.id not in {p.batch_id for p in pending}
        settled, count = await store.settle(expired.id, EXPIRED, b'{"type":"expired"}', now=NOW + 2, running=())
        assert count == 1 and settled.processing_status == ENDED
        await store.close()

    asyncio.run(scenario())


def test_retention_deletes_only_batches_ended_before_the_cutoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await _opened(tmp_path)
        ended = await store.create(_requests(1), now=NOW, expires_at=NOW + 60)
        await store.record_result(ended.id, 0, SUCCEEDED, b"{}", now=NOW + 1)
        running = await store.create(_requests(1), now=NOW, expires_at=NOW + 60)
        assert await store.purge_ended_before(NOW + 1) == 0
        assert await store.purge_ended_before(NOW + 2) == 1
        with pytest.raises(NotFound):
            await store.get(ended.id)
        assert (await store.get(running.id)).processing_status == IN_PROGRESS
        with pytest.raises(InvalidRequest):
            await store.delete(running.id)
        await store.close()

    asyncio.run(scenario())


def test_a_reopened_store_has_every_committed_result_and_nothing_more(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await _opened(tmp_path)
        batch = await store.create(_requests(3), now=NOW, expires_at=NOW + 60)
        await store.record_result(batch.id, 1, SUCCEEDED, b'{"kept":true}', now=NOW + 1)
        await store.close()
        reopened = await _opened(tmp_path)
        assert [p.index for p in await reopened.unfinished(limit=10, now=NOW + 2, skip=())] == [0, 2]
        assert await reopened.results(batch.id, after_index=-1, limit=10) == [(1, "r1", b'{"kept":true}')]
        await reopened.close()

    asyncio.run(scenario())
