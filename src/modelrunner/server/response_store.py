"""Stored responses for `previous_response_id` and `GET /v1/responses/{id}`: in memory, bounded in
count and bytes, each kept for an hour. A restart forgets them, as a local runner may."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from modelrunner.core.errors import InvalidRequest, NotFound

MAX_RESPONSES = 1000
MAX_BYTES = 64 * 1024 * 1024
TTL_S = 3600.0

Item = dict[str, Any]


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]
    input_items: list[Item]
    conversation: list[Item]
    """Every item up to and including this response's output: what a follow-up continues."""
    size_bytes: int
    stored_monotonic: float


class ResponseStore:
    """Oldest first out when a bound is reached; an expired response is gone for good."""

    def __init__(self, *, max_responses: int = MAX_RESPONSES, max_bytes: int = MAX_BYTES,
                 ttl_s: float = TTL_S) -> None:
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0
        self._max_responses = max_responses
        self._max_bytes = max_bytes
        self._ttl_s = ttl_s

    def put(self, response: dict[str, Any], input_items: list[Item], conversation: list[Item]) -> None:
        size = len(orjson.dumps([response, input_items, conversation]))
        if size > self._max_bytes:
            return  # larger than the whole store: answered, not kept
        self._drop(response["id"])
        self._entries[response["id"]] = StoredResponse(response, input_items, conversation, size, time.monotonic())
        self._bytes += size
        while len(self._entries) > self._max_responses or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def get(self, response_id: str) -> StoredResponse:
        self._expire()
        entry = self._entries.get(response_id)
        if entry is None:
            raise NotFound(f"no stored response {response_id!r} (responses are kept for an hour, "
                           "and not at all with store: false)")
        return entry

    def previous(self, response_id: str) -> StoredResponse:
        """The response a request continues: a missing one is the request's mistake (400)."""
        try:
            return self.get(response_id)
        except NotFound as exc:
            raise InvalidRequest(f"previous_response_id: {exc.message}", param="previous_response_id") from None

    def delete(self, response_id: str) -> None:
        self.get(response_id)
        self._drop(response_id)

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self._bytes -= entry.size_bytes

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl_s
        while self._entries:
            oldest_id, oldest = next(iter(self._entries.items()))
            if oldest.stored_monotonic >= cutoff:
                return
            self._drop(oldest_id)
