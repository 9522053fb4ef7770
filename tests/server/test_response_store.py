"""The stored-responses memory: bounded in count and bytes, expiring, and clear about what is gone."""

from __future__ import annotations

import pytest

from modelrunner.core.errors import InvalidRequest, NotFound
from modelrunner.server.response_store import ResponseStore


def _response(n: int, text: str = "") -> dict:
    return {"id": f"resp_{n}", "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}]}


def test_the_oldest_goes_first_when_the_count_is_reached() -> None:
    store = ResponseStore(max_responses=3)
    for n in range(5):
        store.put(_response(n), [], [])
    with pytest.raises(NotFound):
        store.get("resp_1")
    assert [store.get(f"resp_{n}").response["id"] for n in (2, 3, 4)] == ["resp_2", "resp_3", "resp_4"]


def test_the_oldest_goes_first_when_the_bytes_are_reached() -> None:
    store = ResponseStore(max_bytes=3000)
    for n in range(4):
        store.put(_response(n, "x" * 1000), [], [])
    with pytest.raises(NotFound):
        store.get("resp_0")
    store.get("resp_3")
    store.put(_response(9, "y" * 10_000), [], [])  # larger than the whole store: not kept
    with pytest.raises(NotFound):
        store.get("resp_9")
    store.get("resp_3")


def test_expired_responses_are_gone_and_a_missing_previous_is_the_callers_400() -> None:
    store = ResponseStore(ttl_s=0.0)
    store.put(_response(1), [], [])
    with pytest.raises(NotFound, match="an hour"):
        store.get("resp_1")
    with pytest.raises(InvalidRequest) as missing:
        store.previous("resp_1")
    assert missing.value.param == "previous_response_id"


def test_delete_removes_and_a_second_delete_is_not_found() -> None:
    store = ResponseStore()
    store.put(_response(1), [{"id": "msg_1"}], [])
    store.delete("resp_1")
    with pytest.raises(NotFound):
        store.delete("resp_1")
