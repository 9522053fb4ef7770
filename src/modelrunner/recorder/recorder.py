"""The recorder: exchanges are handed over when they end, and turned into records by one background
task, so the request that produced them never waits for the recorder or fails because of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from modelrunner.core.chat import CompletionRequest
from modelrunner.recorder.book import RecordBook
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.records import build_record

logger = logging.getLogger(__name__)

PENDING_EXCHANGES = 256
"""Exchanges waiting to become records; when the recorder falls this far behind, new ones are dropped."""
RENDER_TIMEOUT_S = 5.0


class RequestRecorder:
    """Keeps the last exchanges of every model. `begin`/`finish` are all the request path calls."""

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
        rendered, prompt_error = await _rendered_prompt(exchange)
        record = await asyncio.to_thread(build_record, exchange, rendered_prompt=rendered, prompt_error=prompt_error)
        size_bytes = len(orjson.dumps(record))
        model_key = exchange.served_model or exchange.requested_model or "-"
        if not self.book.add(model_key, record, size_bytes):
            logger.warning("request recorder skipped %s: its record (%d bytes) is larger than the cap",
                           exchange.id, size_bytes)
            return None
        return record


async def _rendered_prompt(exchange: Exchange) -> tuple[str | None, str | None]:
    """The prompt the model saw, rendered after the answer from the stored engine request."""
    request, runner = exchange.engine_request, exchange.runner
    exchange.runner = None  # a runner unloaded meanwhile is not kept alive by the recorder
    if request is None:
        return None, None
    if isinstance(request, CompletionRequest):
        return request.prompt, None
    try:
        return await asyncio.wait_for(runner.render_prompt(request), RENDER_TIMEOUT_S), None
    except Exception as exc:
        return None, f"the prompt could not be rendered: {type(exc).__name__}: {exc}"
