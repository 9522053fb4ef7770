"""The recorder: exchanges are handed over when they end, and turned into records by one background
task, so the request that produced them never waits for the recorder or fails because of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from modelrunner.recorder.book import RecordBook
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.prompts import TOO_LARGE, Prompt, prompt_of, rendered
from modelrunner.recorder.records import build_record, prompt_fields

logger = logging.getLogger(__name__)

PENDING_EXCHANGES = 256
"""Exchanges waiting to become records; when the recorder falls this far behind, new ones are dropped."""
INLINE_RECORD_BYTES = 64 * 1024
"""Exchanges up to this many body and response bytes become records on the event loop, in well under a
millisecond: a thread hop per request cost more than that. Larger ones are decoded in a thread."""
INLINE_RECORD_CHUNKS = 2048


class RequestRecorder:
    """Keeps the last exchanges of every model. `begin`/`finish` are all the request path calls; `read`
    is how a record is shown whole, its prompt rendered."""

    def __init__(self, *, per_model: int, max_bytes: int) -> None:
        self.book = RecordBook(per_model=per_model, max_bytes=max_bytes)
        self._pending: asyncio.Queue[Exchange] = asyncio.Queue(maxsize=PENDING_EXCHANGES)
        self._worker: asyncio.Task[None] | None = None
        self._is_behind = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._worker = asyncio.create_task(self._record_forever(), name="request-recorder")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def end_feeds(self) -> None:
        """End the live feeds, from any thread (a signal handler): shutdown must not wait for them."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.book.end_follows)

    def begin(self, *, request_id: str, api: str, method: str, route: str) -> Exchange:
        return Exchange(id=request_id, api=api, method=method, route=route)

    def finish(self, exchange: Exchange) -> None:
        """Hand a finished exchange over; never raises, never waits."""
        try:
            exchange.finish()
            self._pending.put_nowait(exchange)
            self._is_behind = False
        except asyncio.QueueFull:
            if not self._is_behind:  # one line per episode, not one per request
                logger.warning("request recorder is behind: %s and later requests are not recorded", exchange.id)
            self._is_behind = True
        except Exception:
            logger.exception("request recorder failed to take %s; the request was served", exchange.id)

    async def _record_forever(self) -> None:
        while True:
            exchange = await self._pending.get()
            try:
                await self.record(exchange)
            except Exception as exc:
                logger.warning("request recorder could not record %s: %s: %s", exchange.id, type(exc).__name__, exc)

    async def record(self, exchange: Exchange) -> dict[str, Any] | None:
        prompt = prompt_of(exchange)
        if _is_small(exchange):
            record = build_record(exchange, prompt)
        else:
            record = await asyncio.to_thread(build_record, exchange, prompt)
        size_bytes = len(orjson.dumps(record))
        if prompt.source is not None:
            if size_bytes + prompt.source.size_bytes <= self.book.max_bytes:
                size_bytes += prompt.source.size_bytes
            else:  # too large with its engine request: keep the record alone, its prompt not available
                prompt = Prompt(error=TOO_LARGE)
                record.update(prompt_fields(prompt))
                size_bytes = len(orjson.dumps(record))
        model_key = exchange.served_model or exchange.requested_model or "-"
        if not self.book.add(model_key, record, size_bytes, prompt_source=prompt.source):
            logger.warning("request recorder skipped %s: its record (%d bytes) is larger than the cap",
                           exchange.id, size_bytes)
            return None
        return record

    async def read(self, record_id: str) -> dict[str, Any] | None:
        """The record, its prompt rendered now if it waits for a read. Once rendered (or once its runner is
        gone) the record keeps the outcome, in place of the engine request it kept for rendering."""
        kept = self.book.kept(record_id)
        if kept is None or kept.prompt_source is None:
            return None if kept is None else kept.record
        prompt = await rendered(kept.prompt_source)
        record = {**kept.record, **prompt_fields(prompt)}
        if prompt.source is None:
            self.book.replace(kept, record, len(orjson.dumps(record)))
        return record


def _is_small(exchange: Exchange) -> bool:
    body_bytes = sum(len(part) for part in exchange.body_parts)
    return body_bytes + exchange.response_bytes <= INLINE_RECORD_BYTES and len(exchange.chunks) <= INLINE_RECORD_CHUNKS
