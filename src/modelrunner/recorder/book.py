"""Finished records, bounded twice: the last N per model, and a total byte cap over all of them."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

FOLLOWER_QUEUE_LENGTH = 256


@dataclass(frozen=True)
class KeptRecord:
    """`prompt_source`: what renders the record's prompt when it is read (the recorder's, opaque here)."""

    model_key: str
    record: dict[str, Any]
    size_bytes: int
    prompt_source: Any = None


class RecordBook:
    """Records in completion order; the oldest go first when a model has too many or the bytes run out."""

    def __init__(self, *, per_model: int, max_bytes: int) -> None:
        self.per_model = per_model
        self.max_bytes = max_bytes
        self._records: collections.OrderedDict[str, KeptRecord] = collections.OrderedDict()
        self._ids_by_model: dict[str, collections.deque[str]] = {}
        self._followers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def count_of(self, model_key: str) -> int:
        return len(self._ids_by_model.get(model_key, ()))

    def add(self, model_key: str, record: dict[str, Any], size_bytes: int, *, prompt_source: Any = None) -> bool:
        """Keep `record` (evicting older ones), and hand it to every follower; False if it alone is too big."""
        if size_bytes > self.max_bytes or self.per_model <= 0:
            return False
        record_id = record["id"]
        self._forget(record_id)
        self._records[record_id] = KeptRecord(model_key, record, size_bytes, prompt_source)
        ids = self._ids_by_model.setdefault(model_key, collections.deque())
        ids.append(record_id)
        self.size_bytes += size_bytes
        while len(ids) > self.per_model:
            self._forget(ids[0])
        self._evict_over_cap()
        for queue in self._followers:
            if queue.full():
                queue.get_nowait()  # a follower that does not read loses its oldest, never blocks the recorder
            queue.put_nowait(record)
        return True

    def replace(self, kept: KeptRecord, record: dict[str, Any], size_bytes: int) -> bool:
        """Swap `kept` for a newer version of its record (its prompt rendered), in its place and without a
        prompt source; False when `kept` was evicted or replaced meanwhile, or the new version is too big."""
        record_id = record["id"]
        if self._records.get(record_id) is not kept or size_bytes > self.max_bytes:
            return False
        self._records[record_id] = KeptRecord(kept.model_key, record, size_bytes)
        self.size_bytes += size_bytes - kept.size_bytes
        self._evict_over_cap()
        return True

    def _evict_over_cap(self) -> None:
        while self.size_bytes > self.max_bytes and self._records:
            self._forget(next(iter(self._records)))

    def _forget(self, record_id: str) -> None:
        kept = self._records.pop(record_id, None)
        if kept is None:
            return
        self.size_bytes -= kept.size_bytes
        ids = self._ids_by_model[kept.model_key]
        ids.remove(record_id)
        if not ids:
            del self._ids_by_model[kept.model_key]

    def records(self, *, model: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The most recent records, oldest first; `model` matches the name asked for or the one served."""
        chosen = [kept.record for kept in reversed(self._records.values())
                  if model is None or matches_model(kept.record, model)]
        if limit is not None:
            chosen = chosen[:limit]
        chosen.reverse()
        return chosen

    def find(self, record_id: str) -> dict[str, Any] | None:
        kept = self._records.get(record_id)
        return kept.record if kept else None

    def kept(self, record_id: str) -> KeptRecord | None:
        return self._records.get(record_id)

    def end_follows(self) -> None:
        """Tell every follower to stop (None), for a server shutting down."""
        for queue in self._followers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    @contextmanager
    def follow(self) -> Iterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue that receives every record added while the block runs, and None when following ends."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=FOLLOWER_QUEUE_LENGTH)
        self._followers.add(queue)
        try:
            yield queue
        finally:
            self._followers.discard(queue)


def matches_model(record: dict[str, Any], model: str) -> bool:
    return model in (record.get("model"), record.get("served_model"))
