"""The relay's read of an upstream's SSE stream: text-only events in a form already seen are split on
their bytes, not parsed, and what the runner gets from that must be what parsing every object gives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrunner.core.chat import TextDelta, Usage
from modelrunner.engines.remote.stream_batches import Payload, decode_batch, payload_batches, relay_batches


async def _reads(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _batches(source: Any, *pieces: bytes) -> list[list[Any]]:
    async def collect() -> list[list[Any]]:
        return [batch async for batch in source(_reads(*pieces))]

    return asyncio.run(collect())


def _what_the_runner_sees(batches: list[list[Payload]]) -> list[tuple[list[Any], Any, list[Any]]]:
    """Per read, what the remote runner acts on: the error objects, the llama.cpp timings it holds
    after the read, and the chunks."""
    seen = []
    timings = None
    for batch in batches:
        objects = [payload for payload in batch if type(payload) is not str]
        timings = next((o["timings"] for o in reversed(objects) if o.get("timings")), timings)
        seen.append(([o for o in objects if "error" in o], timings, decode_batch(batch)))
    return seen


def _vllm_text(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 17, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}]}


def _llama_cpp_text(text: str, created: int, timings: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"choices": [{"finish_reason": None, "index": 0, "delta": {"content": text}}],
                             "created": created, "id": "chatcmpl-2", "model": "m", "object": "chat.completion.chunk"}
    if timings is not None:
        event["timings"] = {"prompt_n": 3, "predicted_n": timings, "cache_n": 1}
    return event


_OTHER_OBJECTS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]}}]},
    {"choices": [{"index": 0, "delta": {"content": "last"}, "finish_reason": "length"}]},
    {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 2}}},
    {"error": {"message": "upstream broke", "type": "server_error"}},
]


def _encode(event: dict[str, Any], ascii_only: bool) -> bytes:
    if ascii_only:  # Python's json escapes every non-ASCII character, as some servers do
        return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return b"data: " + orjson.dumps(event) + b"\n\n"


_text_run = st.one_of(
    st.lists(st.builds(_vllm_text, st.text(max_size=6)), min_size=1, max_size=8),
    st.integers(1, 2).flatmap(lambda created: st.lists(
        st.builds(_llama_cpp_text, st.text(max_size=6), st.just(created)), min_size=1, max_size=8)),
    st.lists(st.builds(_llama_cpp_text, st.text(max_size=6), st.just(1), st.integers(1, 3)), max_size=3),
)
"""Runs of text-only events in one form, as upstreams send them (llama.cpp's `created` changes with the
second; with timings per token every event differs), beside the other objects."""


@settings(max_examples=200, deadline=None)
@given(segments=st.lists(st.one_of(_text_run, st.sampled_from(_OTHER_OBJECTS).map(lambda event: [event])),
                         min_size=1, max_size=6),
       ascii_only=st.booleans(), cuts=st.lists(st.integers(0, 60), max_size=8),
       byte_cuts=st.lists(st.integers(0, 4000), max_size=3),
       extra=st.sampled_from([b"", b": keep-alive\n\n", b"data: [DONE]\n\n"]))
def test_the_relay_sees_what_parsing_every_object_gives(segments: list[list[dict[str, Any]]], ascii_only: bool,
                                                         cuts: list[int], byte_cuts: list[int], extra: bytes) -> None:
    """Any stream, read in any pieces (mostly whole events, as a fast upstream's reads are, and some cut
    anywhere): the runner sees the same errors, timings and chunks either way."""
    events = [_encode(event, ascii_only) for segment in segments for event in segment]
    boundaries = [0]
    for event in events:
        boundaries.append(boundaries[-1] + len(event))
    stream = b"".join(events) + extra
    points = {boundaries[min(cut, len(events))] for cut in cuts} | {min(cut, len(stream)) for cut in byte_cuts}
    points = sorted(points | {0, len(stream)})
    reads = [stream[start:end] for start, end in zip(points, points[1:])]
    assert (_what_the_runner_sees(_batches(relay_batches, *reads))
            == _what_the_runner_sees(_batches(payload_batches, *reads)))


def test_text_events_in_a_form_already_seen_come_as_their_joined_text() -> None:
    first = b"".join(_encode(_vllm_text(text), False) for text in ("Hel", "lo"))
    second = b"".join(_encode(_vllm_text(text), False) for text in (' "quoted"', "\n", " caf\u00e9 ", "\u2603"))
    batches = _batches(relay_batches, first, second)
    assert batches[1] == [' "quoted"\n caf\u00e9 \u2603']
    assert decode_batch(batches[0]) == [TextDelta("Hello")]


def test_a_text_slot_holding_json_that_changes_the_object_is_parsed_not_relayed() -> None:
    """The bytes around the text match, but what sits in the text's place closes the string and adds a
    usage: the object is parsed, and its usage counts."""
    learned = _encode(_vllm_text("a"), False)
    head, _, tail = learned.partition(b'"content":"a"')
    forged = head + b'"content":"b"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":1,' \
        b'"completion_tokens":7},"x":[{"y":{"z":""' + tail
    assert orjson.loads(forged[6:])["usage"]["completion_tokens"] == 7
    batches = _batches(relay_batches, learned, forged)
    assert decode_batch(batches[1]) == [TextDelta("b"), Usage(prompt_tokens=1, completion_tokens=7)]


def test_a_form_event_that_is_not_json_fails_as_parsing_it_would() -> None:
    learned = _encode(_vllm_text("a"), False)
    broken = learned.replace(b'"a"', b'"bad \\q escape"')
    try:
        _batches(relay_batches, learned, broken)
    except orjson.JSONDecodeError:
        return
    raise AssertionError("a bad escape in a text event was relayed")
