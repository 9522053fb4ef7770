"""The recorder's pure parts: what a body may keep, how the book stays bounded, how answers are rebuilt."""

from __future__ import annotations

import asyncio

from modelrunner.core.chat import Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.recorder.answer import answer_blocks
from modelrunner.recorder.book import RecordBook
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


def _record(record_id: str, model: str) -> dict[str, object]:
    return {"id": record_id, "model": model, "served_model": model}


def test_the_book_keeps_the_last_per_model_and_stays_under_its_byte_cap() -> None:
    book = RecordBook(per_model=3, max_bytes=1000)
    for i in range(10):
        book.add("a", _record(f"a{i}", "a"), 100)
    assert [r["id"] for r in book.records(model="a")] == ["a7", "a8", "a9"]
    for i in range(20):
        book.add(f"m{i}", _record(f"m{i}", f"m{i}"), 100)
    assert book.size_bytes <= 1000 and len(book) == 10
    assert book.records()[-1]["id"] == "m19" and book.count_of("a") == 0
    assert [r["id"] for r in book.records(limit=2)] == ["m18", "m19"]
    assert not book.add("big", _record("big", "big"), 1001)


def test_a_record_replaced_once_its_prompt_is_rendered_keeps_its_place_and_the_cap() -> None:
    book = RecordBook(per_model=5, max_bytes=1000)
    for i in range(3):
        book.add("a", _record(f"a{i}", "a"), 200, prompt_source=f"source {i}")
    kept = book.kept("a1")
    assert kept is not None and kept.prompt_source == "source 1"
    rendered = {**kept.record, "rendered_prompt": "<|im_start|>user"}
    assert book.replace(kept, rendered, 500)
    assert book.records() == [_record("a0", "a"), rendered, _record("a2", "a")] and book.size_bytes == 900
    assert book.kept("a1").prompt_source is None  # type: ignore[union-attr]
    assert not book.replace(kept, rendered, 500)  # a stale version is never put back
    assert book.replace(book.kept("a2"), _record("a2", "a"), 400)  # type: ignore[arg-type]
    assert [r["id"] for r in book.records()] == ["a1", "a2"] and book.size_bytes == 900  # the oldest went
    assert not book.replace(book.kept("a2"), _record("a2", "a"), 1001)  # type: ignore[arg-type]


def test_followers_get_new_records_and_an_end() -> None:
    async def scenario() -> list[object]:
        book = RecordBook(per_model=3, max_bytes=1000)
        with book.follow() as queue:
            book.add("a", _record("a1", "a"), 10)
            book.end_follows()
            return [queue.get_nowait(), queue.get_nowait()]

    first, end = asyncio.run(scenario())
    assert first == _record("a1", "a") and end is None


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
