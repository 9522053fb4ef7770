"""The recorder's pure parts: what a body may keep, how the book stays bounded, how answers are rebuilt."""

from __future__ import annotations

import asyncio

import orjson

from modelrunner.core.chat import ChatRequest, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.recorder.answer import answer_blocks
from modelrunner.recorder.book import Entry, RecordBook
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.recorder import RequestRecorder, estimated_bytes
from modelrunner.recorder.redaction import REDACTED, redact


def test_redaction_cuts_image_data_and_drops_secrets_but_keeps_prose() -> None:
    prose = "word " * 500
    data_url = "data:image/png;base64," + "A" * 5000
    body = {
        "api_key": "sk-1", "headers": {"Authorization": "Bearer sk-2"},
        "messages": [{"content": [{"type": "image", "source": {"type": "base64", "data": "QUJD" * 400}},
                                  {"type": "image_url", "image_url": {"url": data_url}},
                                  {"type": "text", "text": prose}]}],
        "images": ["iVBORw0KGgo" * 100],
    }
    kept = redact(body)
    assert kept["api_key"] == REDACTED and kept["headers"]["Authorization"] == REDACTED
    image, url_image, text = kept["messages"][0]["content"]
    assert image["source"]["data"].startswith("QUJDQUJD") and len(image["source"]["data"]) < 120
    assert url_image["image_url"]["url"].startswith("data:image/png;base64,") and len(url_image["image_url"]["url"]) < 120
    assert text["text"] == prose
    assert len(kept["images"][0]) < 120
    assert "sk-1" not in str(kept) and "sk-2" not in str(kept)


def _entry(entry_id: str, model: str, size_bytes: int, content: object = None) -> Entry:
    return Entry(entry_id, model, (model, model), size_bytes, content)


def test_the_book_keeps_the_last_per_model_and_stays_under_its_byte_cap() -> None:
    book = RecordBook(per_model=3, max_bytes=1000)
    for i in range(10):
        book.add(_entry(f"a{i}", "a", 100))
    assert [e.id for e in book.entries(model="a")] == ["a7", "a8", "a9"]
    for i in range(20):
        book.add(_entry(f"m{i}", f"m{i}", 100))
    assert book.size_bytes <= 1000 and len(book) == 10
    assert book.entries()[-1].id == "m19" and book.count_of("a") == 0
    assert [e.id for e in book.entries(limit=2)] == ["m18", "m19"]
    assert not book.add(_entry("big", "big", 1001))


def test_an_entry_replaced_by_a_newer_version_keeps_its_place_and_the_cap() -> None:
    book = RecordBook(per_model=5, max_bytes=1000)
    for i in range(3):
        book.add(_entry(f"a{i}", "a", 200, f"exchange {i}"))
    kept = book.entry("a1")
    assert kept is not None and kept.content == "exchange 1"
    newer = _entry("a1", "a", 500, "record 1")
    assert book.replace(kept, newer)
    assert [e.content for e in book.entries()] == ["exchange 0", "record 1", "exchange 2"] and book.size_bytes == 900
    assert not book.replace(kept, newer)  # a stale version is never put back
    assert book.replace(book.entry("a2"), _entry("a2", "a", 400))  # type: ignore[arg-type]
    assert [e.id for e in book.entries()] == ["a1", "a2"] and book.size_bytes == 900  # the oldest went
    assert not book.replace(book.entry("a2"), _entry("a2", "a", 1001))  # type: ignore[arg-type]
    assert [e.id for e in book.entries()] == ["a1"] and book.size_bytes == 500  # too big: dropped


def test_followers_get_new_entries_and_an_end() -> None:
    async def scenario() -> list[object]:
        book = RecordBook(per_model=3, max_bytes=1000)
        with book.follow() as queue:
            book.add(_entry("a1", "a", 10))
            book.end_follows()
            return [queue.get_nowait(), queue.get_nowait()]

    first, end = asyncio.run(scenario())
    assert first == _entry("a1", "a", 10) and end is None


def _finished_exchange(recorder: RequestRecorder, exchange_id: str, body: bytes) -> None:
    exchange = recorder.begin(request_id=exchange_id, api="anthropic", method="POST", route="/v1/messages")
    exchange.body_parts.append(body)
    exchange.status = 200
    exchange.response_media_type = "application/json"
    exchange.note_response_body(b'{"content": [{"type": "text", "text": "hi"}]}')
    exchange.requested_model = "ai/tiny"
    recorder.finish(exchange)


def test_an_exchange_becomes_its_record_only_when_read_and_then_counts_its_real_size() -> None:
    async def scenario() -> None:
        recorder = RequestRecorder(per_model=10, max_bytes=10_000)
        _finished_exchange(recorder, "r1", b'{"model": "ai/tiny", "api_key": "sk-1", "messages": []}')
        [unread] = recorder.book.entries()
        assert isinstance(unread.content, Exchange) and unread.size_bytes >= 2 * 56

        [record] = await recorder.records(model="ai/tiny")
        assert record["id"] == "r1" and record["request"]["api_key"] == REDACTED
        [read] = recorder.book.entries()
        assert not isinstance(read.content, Exchange) and read.size_bytes == len(orjson.dumps(record))
        assert await recorder.read("r1") == record and await recorder.records(model="ai/other") == []

        # An exchange whose estimate is over the cap is never kept; nothing else is lost for it.
        _finished_exchange(recorder, "huge", b'{"messages": "' + b"x" * 6000 + b'"}')
        assert [r["id"] for r in await recorder.records()] == ["r1"] and await recorder.read("huge") is None

        # Many unread exchanges are built at once (in a thread), in order, none lost.
        roomy = RequestRecorder(per_model=200, max_bytes=1_000_000)
        for n in range(100):
            _finished_exchange(roomy, f"m{n}", b'{"model": "ai/tiny", "messages": []}')
        assert [r["id"] for r in await roomy.records()] == [f"m{n}" for n in range(100)]
        assert all(not isinstance(entry.content, Exchange) for entry in roomy.book.entries())

        # Image data the runner fetched for a request is in no body, and counts all the same.
        fetched = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 20_000}}
        bare = {"type": "image_url", "image_url": "data:image/png;base64," + "B" * 20_000}  # as some clients send it
        exchange = recorder.begin(request_id="fetched", api="anthropic", method="POST", route="/v1/messages")
        exchange.engine_request = ChatRequest(model="ai/tiny", messages=[{"role": "user", "content": [fetched, bare]}])
        assert estimated_bytes(exchange) > 40_000

    asyncio.run(scenario())


def test_answer_blocks_follow_the_order_of_the_chunks() -> None:
    chunks = [ReasoningDelta("let me "), ReasoningDelta("think"), TextDelta("Hello"), TextDelta(" there"),
              ToolCallDelta(0, "call_1", "add", '{"a": '), ToolCallDelta(0, None, None, "1}"),
              Usage(12, 5), Finish("tool_calls")]
    answer = answer_blocks(chunks)
    assert answer["content"] == [
        {"type": "thinking", "thinking": "let me think"},
        {"type": "text", "text": "Hello there"},
        {"type": "tool_use", "id": "call_1", "name": "add", "input": {"a": 1}},
    ]
    assert answer["stop_reason"] == "tool_calls"
    assert answer["usage"] == {"input_tokens": 12, "output_tokens": 5, "cached_input_tokens": 0}
