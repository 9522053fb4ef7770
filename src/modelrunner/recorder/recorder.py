"""The recorder: an exchange is kept as it was handed over when it ends, and turned into its record only
when someone reads it. Most exchanges are never read, so the request path pays for none of the decoding,
redaction and measuring a record takes (that work, done for every request in the background, cost more
server CPU than anything else the recorder did)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from modelrunner.core.chat import ChatRequest, CompletionRequest, image_parts, image_url_of
from modelrunner.recorder.book import Entry, RecordBook
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.prompts import TOO_LARGE, Prompt, PromptSource, prompt_of, rendered
from modelrunner.recorder.records import build_record, prompt_fields

logger = logging.getLogger(__name__)

INLINE_RECORD_BYTES = 64 * 1024
"""Exchanges up to this many body and response bytes become records on the event loop, in well under a
millisecond: a thread hop costs more than that. Larger ones are decoded in a thread."""
INLINE_RECORD_CHUNKS = 2048
INLINE_RECORD_COUNT = 64
"""A listing with more unread exchanges than this builds them all in a thread: a first listing of
thousands of small ones would otherwise hold the event loop for a noticeable time."""
RECORD_OVERHEAD_BYTES = 1024
CHUNK_BYTES = 64


@dataclass(frozen=True)
class Built:
    """An entry's content once read: its record, and what renders its prompt when it is read by id."""

    record: dict[str, Any]
    prompt_source: PromptSource | None = None


def estimated_bytes(exchange: Exchange) -> int:
    """What an unread exchange counts against the byte cap: an upper bound of its record's size. The
    request appears in it twice (as sent, and as the engine request, with any image the runner fetched
    for it) and the answer twice (as sent, and as the message rebuilt from the engine's chunks)."""
    return (2 * (exchange.body_bytes + exchange.response_bytes) + _image_data_bytes(exchange.engine_request)
            + CHUNK_BYTES * len(exchange.chunks) + RECORD_OVERHEAD_BYTES)


def _image_data_bytes(request: ChatRequest | CompletionRequest | None) -> int:
    """The image data an engine request carries: an image fetched from its URL is in no body."""
    if not isinstance(request, ChatRequest):
        return 0
    return sum(len(image_url_of(part)) for part in image_parts(request))


def _built(exchange: Exchange) -> tuple[Built, int]:
    """The exchange's record and its size against the cap (the engine request kept to render the prompt
    counts too, unless the two together would not fit: then the prompt is given up)."""
    prompt = prompt_of(exchange)
    record = build_record(exchange, prompt)
    return Built(record, prompt.source), len(orjson.dumps(record)) + (prompt.source.size_bytes if prompt.source else 0)


class RequestRecorder:
    """Keeps the last exchanges of every model. `begin`/`finish` are all the request path calls;
    `records`, `shown` and `read` turn exchanges into records when someone looks."""

    def __init__(self, *, per_model: int, max_bytes: int) -> None:
        self.book = RecordBook(per_model=per_model, max_bytes=max_bytes)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None

    def end_feeds(self) -> None:
        """End the live feeds, from any thread (a signal handler): shutdown must not wait for them."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.book.end_follows)

    def begin(self, *, request_id: str, api: str, method: str, route: str) -> Exchange:
        return Exchange(id=request_id, api=api, method=method, route=route)

    def finish(self, exchange: Exchange) -> None:
        """Keep a finished exchange as it is; never raises, never waits."""
        try:
            exchange.finish()
            entry = Entry(exchange.id, exchange.served_model or exchange.requested_model or "-",
                          (exchange.requested_model, exchange.served_model), estimated_bytes(exchange), exchange)
            if not self.book.add(entry):
                _skipped(entry)
        except Exception:
            logger.exception("request recorder failed to take %s; the request was served", exchange.id)

    async def records(self, *, model: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The most recent records, oldest first, each built now if this is its first read (large ones, or
        many, in a thread). The list is taken after the last build, so what it holds is within the cap."""
        unread = [entry for entry in self.book.entries(model=model, limit=limit) if type(entry.content) is Exchange]
        in_thread = unread if len(unread) > INLINE_RECORD_COUNT else [e for e in unread if _is_large(e.content)]
        if in_thread:
            for entry, built in zip(in_thread, await asyncio.to_thread(lambda: [_built(e.content) for e in in_thread])):
                self._keep(entry, *built)
        for entry in self.book.entries(model=model, limit=limit):
            if type(entry.content) is Exchange:
                self._keep(entry, *_built(entry.content))
        return [entry.content.record for entry in self.book.entries(model=model, limit=limit)]

    async def shown(self, entry: Entry) -> dict[str, Any] | None:
        """A followed entry's record; None if it is too large to keep."""
        entry = await self._settled(entry)
        return entry.content.record if entry.size_bytes <= self.book.max_bytes else None

    async def _settled(self, entry: Entry) -> Entry:
        """The entry with its record built (in a thread when it is large) and kept in its place."""
        if type(entry.content) is not Exchange:
            return entry
        return self._keep(entry, *(await asyncio.to_thread(_built, entry.content) if _is_large(entry.content)
                                   else _built(entry.content)))

    def _keep(self, entry: Entry, built: Built, size_bytes: int) -> Entry:
        """Put the entry's record in its place. One that does not fit with the engine request it keeps to
        render its prompt is kept alone, its prompt given up; one that does not fit at all is dropped."""
        if built.prompt_source is not None and size_bytes > self.book.max_bytes:
            record = {**built.record, **prompt_fields(Prompt(error=TOO_LARGE))}
            built, size_bytes = Built(record), len(orjson.dumps(record))
        newer = entry.holding(built, size_bytes)
        if size_bytes > self.book.max_bytes:
            _skipped(newer)
        self.book.replace(entry, newer)
        return newer

    async def read(self, record_id: str) -> dict[str, Any] | None:
        """The record, its prompt rendered now if it waits for a read. Once rendered (or once its runner is
        gone) the record keeps the outcome, in place of the engine request it kept for rendering."""
        entry = self.book.entry(record_id)
        if entry is None:
            return None
        entry = await self._settled(entry)
        if entry.size_bytes > self.book.max_bytes:
            return None
        content: Built = entry.content
        if content.prompt_source is None:
            return content.record
        prompt = await rendered(content.prompt_source)
        record = {**content.record, **prompt_fields(prompt)}
        if prompt.source is None:
            self.book.replace(entry, entry.holding(Built(record), len(orjson.dumps(record))))
        return record


def _skipped(entry: Entry) -> None:
    logger.warning("request recorder skipped %s: its record (%d bytes) is larger than the cap",
                   entry.id, entry.size_bytes)


def _is_large(exchange: Exchange) -> bool:
    """Too large to become a record on the event loop."""
    return (exchange.body_bytes + exchange.response_bytes > INLINE_RECORD_BYTES
            or len(exchange.chunks) > INLINE_RECORD_CHUNKS)
