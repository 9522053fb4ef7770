"""Finished exchanges, bounded twice: the last N per model, and a total byte cap over all of them."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

FOLLOWER_QUEUE_LENGTH = 256


@dataclass(frozen=True)
class Entry:
    """One kept exchange. `content` is the recorder's, opaque here (the exchange until it is first read,
    then its record); `models` are the names a `model` filter matches: the one asked for, the one served."""

    id: str
    model_key: str
    models: tuple[str | None, ...]
    size_bytes: int
    content: Any

    def holding(self, content: Any, size_bytes: int) -> Entry:
        """The same entry with newer content (to `replace` it with)."""
        return Entry(self.id, self.model_key, self.models, size_bytes, content)


class RecordBook:
    """Entries in completion order; the oldest go first when a model has too many or the bytes run out."""

    def __init__(self, *, per_model: int, max_bytes: int) -> None:
        self.per_model = per_model
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[str, Entry] = collections.OrderedDict()
        self._ids_by_model: dict[str, collections.deque[str]] = {}
        self._followers: set[asyncio.Queue[Entry | None]] = set()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def count_of(self, model_key: str) -> int:
        return len(self._ids_by_model.get(model_key, ()))

    def add(self, entry: Entry) -> bool:
        """Keep `entry` (evicting older ones), and hand it to every follower; False if it alone is too big."""
        if entry.size_bytes > self.max_bytes or self.per_model <= 0:
            return False
        self._forget(entry.id)
        self._entries[entry.id] = entry
        ids = self._ids_by_model.setdefault(entry.model_key, collections.deque())
        ids.append(entry.id)
        self.size_bytes += entry.size_bytes
        while len(ids) > self.per_model:
            self._forget(ids[0])
        self._evict_over_cap()
        for queue in self._followers:
            if queue.full():
                queue.get_nowait()  # a follower that does not read loses its oldest, never blocks the recorder
            queue.put_nowait(entry)
        return True

    def replace(self, kept: Entry, newer: Entry) -> bool:
        """Swap `kept` for a newer version of it (its record built, its prompt rendered), in its place; False
        when `kept` was evicted or replaced meanwhile, or the newer version is too big (then it is dropped)."""
        if self._entries.get(kept.id) is not kept:
            return False
        if newer.size_bytes > self.max_bytes:
            self._forget(kept.id)
            return False
        self._entries[kept.id] = newer
        self.size_bytes += newer.size_bytes - kept.size_bytes
        self._evict_over_cap()
        return True

    def _evict_over_cap(self) -> None:
        while self.size_bytes > self.max_bytes and self._entries:
            self._forget(next(iter(self._entries)))

    def _forget(self, entry_id: str) -> None:
        kept = self._entries.pop(entry_id, None)
        if kept is None:
            return
        self.size_bytes -= kept.size_bytes
        ids = self._ids_by_model[kept.model_key]
        ids.remove(entry_id)
        if not ids:
            del self._ids_by_model[kept.model_key]

    def entries(self, *, model: str | None = None, limit: int | None = None) -> list[Entry]:
        """The most recent entries, oldest first; `model` matches the name asked for or the one served."""
        chosen = [entry for entry in reversed(self._entries.values()) if model is None or model in entry.models]
        if limit is not None:
            chosen = chosen[:limit]
        chosen.reverse()
        return chosen

    def entry(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def end_follows(self) -> None:
        """Tell every follower to stop (None), for a server shutting down."""
        for queue in self._followers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    @contextmanager
    def follow(self) -> Iterator[asyncio.Queue[Entry | None]]:
        """A queue that receives every entry added while the block runs, and None when following ends."""
        queue: asyncio.Queue[Entry | None] = asyncio.Queue(maxsize=FOLLOWER_QUEUE_LENGTH)
        self._followers.add(queue)
        try:
            yield queue
        finally:
            self._followers.discard(queue)

