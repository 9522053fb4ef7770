"""The Message Batches wire format: the create body checked as Anthropic checks it (the whole batch is
refused at the first bad request), and the `message_batch`, list, deletion and result-line shapes."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from modelrunner.core.errors import InvalidRequest, RequestTooLarge
from modelrunner.dialects.anthropic.protocol import MessagesBody

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 1000


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    problem = "field required" if error["type"] == "missing" else error["msg"]
    return f"{location}: {problem}" if location else problem


def parse_batch_requests(document: Any) -> list[tuple[str, bytes]]:
    """`(custom_id, params JSON)` of every request of a create body, or InvalidRequest naming the first
    bad request. CPU-bound for big batches: call it off the event loop."""
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        raise InvalidRequest("requests: expected a list of {custom_id, params}", param="requests")
    requests = document["requests"]
    if not requests:
        raise InvalidRequest("requests: a batch needs at least one request", param="requests")
    if len(requests) > MAX_BATCH_REQUESTS:
        raise RequestTooLarge(f"requests: a batch holds at most {MAX_BATCH_REQUESTS} requests, "
                              f"this one has {len(requests)}")
    parsed: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for index, request in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(request, dict):
            raise InvalidRequest(f"{where}: expected an object with custom_id and params", param=where)
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            raise InvalidRequest(f"{where}.custom_id: {custom_id!r} must be 1 to 64 letters, digits, '_' or '-'",
                                 param=f"{where}.custom_id")
        if custom_id in seen:
            raise InvalidRequest(f"{where}.custom_id: {custom_id!r} is already used by an earlier request; "
                                 "custom_id must be unique within a batch", param=f"{where}.custom_id")
        seen.add(custom_id)
        params = request.get("params")
        named = f"{where} (custom_id {custom_id!r})"
        if not isinstance(params, dict):
            raise InvalidRequest(f"{named}: params must be a Messages request object", param=f"{where}.params")
        if params.get("stream"):
            raise InvalidRequest(f"{named}: params.stream: batch requests cannot stream", param=f"{where}.params")
        try:
            MessagesBody.model_validate(params)
        except ValidationError as exc:
            raise InvalidRequest(f"{named}: params.{_first_problem(exc)}", param=f"{where}.params") from None
        parsed.append((custom_id, orjson.dumps(params)))
    return parsed


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_batch(*, batch_id: str, processing_status: str, counts: Mapping[str, int], created_at: float,
                  expires_at: float, ended_at: float | None, cancel_initiated_at: float | None,
                  results_url: str | None) -> dict[str, Any]:
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": processing_status,
        "request_counts": {key: counts.get(key, 0)
                           for key in ("processing", "succeeded", "errored", "canceled", "expired")},
        "ended_at": rfc3339(ended_at),
        "created_at": rfc3339(created_at),
        "expires_at": rfc3339(expires_at),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(cancel_initiated_at),
        "results_url": results_url,
    }


def batch_page(batches: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {"data": batches, "has_more": has_more,
            "first_id": batches[0]["id"] if batches else None,
            "last_id": batches[-1]["id"] if batches else None}


def deleted_batch(batch_id: str) -> dict[str, Any]:
    return {"id": batch_id, "type": "message_batch_deleted"}


def succeeded_result(message: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "succeeded", "message": message})


def errored_result(error_body: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "errored", "error": error_body})


def result_line(custom_id: str, result_json: bytes) -> bytes:
    """One line of the results file; the stored result JSON is spliced in, not parsed again."""
    return b'{"custom_id":' + orjson.dumps(custom_id) + b',"result":' + result_json + b"}\n"
