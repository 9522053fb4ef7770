"""`GET /engines/requests`: the recorded exchanges as JSON, or followed live as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelrunner.core.errors import InvalidRequest, NotFound
from modelrunner.recorder.recorder import RequestRecorder
from modelrunner.server.responses import json_response
from modelrunner.server.streaming import SSE_HEADERS

router = APIRouter()

FEED_PING_INTERVAL_S = 15.0
MAX_LIMIT = 10_000


def _recorder(request: Request) -> RequestRecorder | None:
    return getattr(request.app.state, "recorder", None)


def _limit(raw: int | None) -> int | None:
    if raw is not None and not 0 <= raw <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 0 and {MAX_LIMIT}", param="limit")
    return raw


def _wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _event(record: dict[str, Any]) -> bytes:
    return b"event: request\ndata: " + orjson.dumps(record) + b"\n\n"


async def _feed(recorder: RequestRecorder, model: str | None, backlog: int) -> AsyncIterator[bytes]:
    """The last `backlog` records, then each new one as it is recorded. The first comment says the feed
    is following: anything recorded after it arrives is sent."""
    with recorder.book.follow() as queue:
        yield b": following\n\n"
        for record in await recorder.records(model=model, limit=backlog) if backlog else ():
            yield _event(record)
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), FEED_PING_INTERVAL_S)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            if entry is None:
                return  # the server is shutting down
            if model is None or model in entry.models:
                record = await recorder.shown(entry)
                if record is not None:
                    yield _event(record)


@router.get("/engines/requests")
async def recorded_requests(request: Request, model: str | None = None, limit: int | None = None) -> Response:
    recorder = _recorder(request)
    limit = _limit(limit)
    if _wants_events(request):
        if recorder is None:
            raise NotFound("the request recorder is off (MODEL_RUNNER_RECORD=0)")
        return StreamingResponse(_feed(recorder, model or None, limit or 0), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    records = await recorder.records(model=model or None, limit=limit) if recorder else []
    return json_response({"recording": recorder is not None, "requests": records})


@router.get("/engines/requests/{request_id}")
async def recorded_request(request: Request, request_id: str) -> Response:
    """One record whole; a chat's prompt is rendered now, by its runner if that is still loaded."""
    recorder = _recorder(request)
    record = await recorder.read(request_id) if recorder else None
    if record is None:
        raise NotFound(f"no recorded request {request_id!r}")
    return json_response(record)
