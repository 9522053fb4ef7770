"""The remote engine's pure parts: prefix affinity, error mapping, URL checks, the count body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from modelrunner.core.chat import ChatRequest, Finish, TextDelta
from modelrunner.core.errors import ContextOverflow, EngineFailed, InvalidRequest, Overloaded
from modelrunner.engines.openai_wire import decode_chunk
from modelrunner.engines.remote.affinity import AffinityMap, prefix_keys
from modelrunner.engines.remote.errors import upstream_error
from modelrunner.engines.remote.probe import normalise_url, server_root
from modelrunner.engines.remote.stream_batches import decode_batch, payload_batches
from modelrunner.engines.remote.token_counting import anthropic_count_body

TURN_ONE = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
TURN_TWO = [*TURN_ONE, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Weather?"}]


def test_a_continuing_conversation_finds_the_target_of_its_prefix() -> None:
    served: AffinityMap[str] = AffinityMap()
    served.remember(prefix_keys(TURN_ONE, None), "replica-a")
    assert served.lookup(prefix_keys(TURN_TWO, None)) == "replica-a"
    assert served.lookup(prefix_keys([{"role": "user", "content": "Other"}], None)) is None
    assert served.lookup(prefix_keys(TURN_TWO, [{"type": "function"}])) is None  # other tools, other prompt


def test_affinity_forgets_the_least_recent_beyond_its_capacity() -> None:
    served: AffinityMap[int] = AffinityMap(capacity=2)
    conversations = [[{"role": "user", "content": str(n)}] for n in range(3)]
    for number, conversation in enumerate(conversations):
        served.remember(prefix_keys(conversation, None), number)
    assert [served.lookup(prefix_keys(c, None)) for c in conversations] == [None, 1, 2]


@pytest.mark.parametrize(("status", "payload", "expected"), [
    (429, b'{"error": {"message": "slow down"}}', Overloaded),
    (503, b"busy", Overloaded),
    (400, b'{"error": {"type": "exceed_context_size_error", "n_prompt_tokens": 9, "n_ctx": 4}}', ContextOverflow),
    (400, b'{"object": "error", "message": "bad field"}', InvalidRequest),
    (401, b"{}", EngineFailed),
    (500, b"<html>oops</html>", EngineFailed),
])
def test_upstream_errors_map_onto_ours_and_name_the_upstream(status: int, payload: bytes, expected: type) -> None:
    error = upstream_error(status, payload, upstream="team/qwen3", retry_after="7")
    assert type(error) is expected
    if expected is not ContextOverflow:
        assert "team/qwen3" in error.message
    if expected is Overloaded:
        assert error.retry_after_s == 7.0


@pytest.mark.parametrize("url", ["ftp://x/v1", "http://", "http://u:p@host/v1", "http://h/v1?x=1", "", "x" * 3000])
def test_only_plain_http_base_urls_are_accepted(url: str) -> None:
    with pytest.raises(InvalidRequest):
        normalise_url(url)


def test_server_roots_of_the_usual_base_urls() -> None:
    assert normalise_url(" http://10.0.0.5:8000/v1/ ") == "http://10.0.0.5:8000/v1"
    assert server_root("http://10.0.0.5:8000/v1") == "http://10.0.0.5:8000"
    assert server_root("https://gpu:12434/engines/v1") == "https://gpu:12434"
    assert server_root("https://gpu:12434/engines/llama.cpp/v1") == "https://gpu:12434"
    assert server_root("http://proxy/team/v1") == "http://proxy/team"


def test_the_count_body_for_another_modelrunner_keeps_the_whole_conversation() -> None:
    request = ChatRequest(model="m", messages=[
        *TURN_ONE,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ], tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    body = anthropic_count_body(request, "ai/tiny")
    assert body["system"] == "Be brief." and body["model"] == "ai/tiny"
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "c1", "name": "get_weather",
                                               "input": {"city": "Rome"}}]
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"}
    assert body["tools"] == [{"name": "get_weather", "description": "", "input_schema": {"type": "object"}}]



async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _text_event(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


def test_one_read_of_many_tokens_is_one_text_chunk_and_lines_may_split_across_reads() -> None:
    whole = _text_event("a") + _text_event("b") + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    split = _text_event("c")
    reads = _pieces(whole, split[:9], split[9:] + b"data: [DONE]\n\n", _text_event("never"))

    async def batches() -> list[list[dict[str, Any]]]:
        return [batch async for batch in payload_batches(reads)]

    decoded = [decode_batch(batch) for batch in asyncio.run(batches())]
    assert decoded == [[TextDelta("ab"), Finish("stop")], [TextDelta("c")]]


def _joined(payloads: list[dict[str, Any]]) -> list[Any]:
    """What the general decoder makes of `payloads`, adjacent text joined: the fast path must agree."""
    joined: list[Any] = []
    for payload in payloads:
        for chunk in decode_chunk(payload):
            if type(chunk) is TextDelta and joined and type(joined[-1]) is TextDelta:
                joined[-1] = TextDelta(joined[-1].text + chunk.text)
            else:
                joined.append(chunk)
    return joined


def _delta(delta: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}], **fields}


@pytest.mark.parametrize("payloads", [
    [_delta({"role": "assistant", "content": ""}), _delta({"content": "a"}), _delta({"content": "b"})],
    [_delta({"content": "a"}), _delta({"reasoning_content": "think"}), _delta({"content": "b"})],
    [_delta({"content": "a", "reasoning_content": None}), _delta({"content": None})],
    [_delta({"content": "a"}), _delta({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f"}}]})],
    [_delta({"content": "a"}), _delta({"content": "b"}, usage={"prompt_tokens": 3, "completion_tokens": 2})],
    [_delta({"content": "a"}), {"choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "length"}]}],
    [{"choices": [{"index": 0, "text": "plain completion"}]}, _delta({"content": "x"})],
    [_delta({"content": "a"}), {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}],
])
def test_the_text_only_fast_path_decodes_what_the_general_decoder_does(payloads: list[dict[str, Any]]) -> None:
    assert decode_batch(payloads) == _joined(payloads)


def test_a_read_of_several_objects_is_parsed_as_one_array_in_order() -> None:
    reads = _pieces(_text_event("a") + b": comment\n" + _text_event("b") + b"data:" + _text_event("c")[5:])

    async def batches() -> list[list[dict[str, Any]]]:
        return [batch async for batch in payload_batches(reads)]

    assert [decode_batch(batch) for batch in asyncio.run(batches())] == [[TextDelta("abc")]]


def test_crlf_line_ends_and_done_end_the_stream() -> None:
    crlf = (_text_event("a") + _text_event("b") + b"data: [DONE]\n\n").replace(b"\n", b"\r\n")
    reads = _pieces(crlf, _text_event("after"))

    async def batches() -> list[list[dict[str, Any]]]:
        return [batch async for batch in payload_batches(reads)]

    assert [decode_batch(batch) for batch in asyncio.run(batches())] == [[TextDelta("ab")]]


@pytest.mark.parametrize("text", ["plain", "says [DONE] early", "two\\n\\ndata: lines", 'a \\"quote\\"'])
def test_the_one_replace_path_and_the_line_path_read_the_same_objects(text: str) -> None:
    usual = _text_event(text) + _text_event("x")
    other_forms = b": a comment\n" + usual.replace(b"\n", b"\r\n")

    async def objects(*reads: bytes) -> list[dict[str, Any]]:
        return [item async for batch in payload_batches(_pieces(*reads)) for item in batch]

    expected = [orjson.loads(line[6:]) for line in usual.split(b"\n\n") if line]
    assert asyncio.run(objects(usual)) == expected
    assert asyncio.run(objects(other_forms)) == expected
    assert asyncio.run(objects(usual[:20], usual[20:])) == expected
