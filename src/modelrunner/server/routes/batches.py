"""The Message Batches routes (`/messages/batches...`), mounted under `/v1` and `/anthropic/v1`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelrunner.batches.records import BatchRecord, NewRequest
from modelrunner.batches.service import BatchService
from modelrunner.core.errors import InvalidRequest, RequestTooLarge
from modelrunner.dialects.anthropic.batches import (
    DEFAULT_PAGE_LIMIT,
    MAX_BATCH_BYTES,
    MAX_PAGE_LIMIT,
    batch_page,
    deleted_batch,
    message_batch,
    parse_batch_requests,
    result_line,
)
from modelrunner.server.apis import ANTHROPIC_ROUTE
from modelrunner.server.bodies import parse_json
from modelrunner.server.responses import json_response

RESULTS_PAGE_ROWS = 500

router = APIRouter(route_class=ANTHROPIC_ROUTE)


def _batches(request: Request) -> BatchService:
    return request.app.state.batches


def _encoded(request: Request, record: BatchRecord) -> dict[str, Any]:
    """The results URL is absolute and under the prefix this request came through, so that the SDK,
    whatever its base URL, fetches it from here."""
    results_url = None
    if record.is_ended:
        path = request.url.path
        base = path[: path.index("/messages/batches")]
        results_url = str(request.url.replace(path=f"{base}/messages/batches/{record.id}/results", query=""))
    return message_batch(batch_id=record.id, processing_status=record.processing_status, counts=record.counts,
                         created_at=record.created_at, expires_at=record.expires_at, ended_at=record.ended_at,
                         cancel_initiated_at=record.cancel_initiated_at, results_url=results_url)


async def _bounded_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the batch size limit (the edge's limit does not apply here)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise RequestTooLarge(f"a batch is at most {MAX_BATCH_BYTES // (1024 * 1024)} MB")
    parts: list[bytes] = []
    received = 0
    async for part in request.stream():
        received += len(part)
        if received > MAX_BATCH_BYTES:
            raise RequestTooLarge(f"a batch is at most {MAX_BATCH_BYTES // (1024 * 1024)} MB")
        parts.append(part)
    return b"".join(parts)


def _parse(raw: bytes) -> list[NewRequest]:
    document = parse_json(raw, expected="a JSON object with requests")
    return [NewRequest(custom_id, params) for custom_id, params in parse_batch_requests(document)]


@router.post("/messages/batches")
async def create_batch(request: Request) -> Response:
    requests = await asyncio.to_thread(_parse, await _bounded_body(request))
    return json_response(_encoded(request, await _batches(request).create(requests)))


def _page_limit(raw: str | None) -> int:
    """Read here, not by FastAPI, so that a bad value is a 400 in Anthropic's envelope."""
    if raw is None:
        return DEFAULT_PAGE_LIMIT
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_PAGE_LIMIT}, got {raw[:20]!r}",
                             param="limit")
    return int(raw)


@router.get("/messages/batches")
async def list_batches(request: Request, limit: str | None = None, before_id: str | None = None,
                       after_id: str | None = None) -> Response:
    if before_id is not None and after_id is not None:
        raise InvalidRequest("give before_id or after_id, not both", param="before_id")
    records, has_more = await _batches(request).store.page(limit=_page_limit(limit), before_id=before_id,
                                                           after_id=after_id)
    return json_response(batch_page([_encoded(request, record) for record in records], has_more=has_more))


@router.get("/messages/batches/{batch_id}")
async def retrieve_batch(request: Request, batch_id: str) -> Response:
    return json_response(_encoded(request, await _batches(request).store.get(batch_id)))


@router.post("/messages/batches/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str) -> Response:
    return json_response(_encoded(request, await _batches(request).cancel(batch_id)))


@router.delete("/messages/batches/{batch_id}")
async def delete_batch(request: Request, batch_id: str) -> Response:
    await _batches(request).store.delete(batch_id)
    return json_response(deleted_batch(batch_id))


@router.get("/messages/batches/{batch_id}/results")
async def batch_results(request: Request, batch_id: str) -> Response:
    """JSON lines, in request order, read from the store a page at a time."""
    service = _batches(request)
    record = await service.store.get(batch_id)
    if not record.is_ended:
        raise InvalidRequest(f"message batch {batch_id} is still {record.processing_status}: "
                             "its results are available once it has ended")

    async def lines() -> AsyncIterator[bytes]:
        after = -1
        while True:
            rows = await service.store.results(batch_id, after_index=after, limit=RESULTS_PAGE_ROWS)
            if not rows:
                return
            yield b"".join(result_line(custom_id, result) for _, custom_id, result in rows)
            after = rows[-1][0]

    return StreamingResponse(lines(), media_type="application/x-jsonl")
