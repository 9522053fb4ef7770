"""Engine chunks -> SSE events, checked against the streaming grammar."""

from __future__ import annotations

import json

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.dialects.anthropic.stream import PING_EVENT, MessageStreamEncoder
from tests.support.anthropic_stream import check_stream, parse_sse


def encode(chunks: list[EngineChunk]) -> bytes:
    encoder = MessageStreamEncoder("claude-test")
    return encoder.message_start() + b"".join(encoder.feed(chunk) for chunk in chunks)


def test_thinking_text_and_several_tool_calls_with_arguments_split_mid_string() -> None:
    raw = encode([
        ReasoningDelta("Let me "), ReasoningDelta("think."),
        TextDelta("I'll check "), TextDelta("both."),
        ToolCallDelta(0, "call_a", "get_weather", '{"ci'), ToolCallDelta(0, None, None, 'ty": "Par'),
        ToolCallDelta(0, None, None, 'is"}'),
        ToolCallDelta(1, "call_b", "add", ""), ToolCallDelta(1, None, None, '{"a": 1, "b": 2}'),
        Usage(prompt_tokens=50, completion_tokens=30, cached_prompt_tokens=20), Finish("tool_calls"),
    ])
    stream = check_stream(parse_sse(raw))
    assert [b["type"] for b in stream.blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert stream.blocks[0]["thinking"] == "Let me think." and stream.blocks[0]["signature"]
    assert stream.text == "I'll check both."
    assert [(b["name"], b["input"]) for b in stream.tool_uses] == [("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2})]
    assert stream.tool_uses[0]["id"].startswith("toolu_") and stream.tool_uses[0]["id"] != stream.tool_uses[1]["id"]
    assert stream.stop_reason == "tool_use"
    assert stream.usage == {"input_tokens": 30, "output_tokens": 30, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 20}


def test_every_event_line_names_its_type_and_message_start_is_the_empty_shell() -> None:
    events = parse_sse(encode([TextDelta("hi"), Usage(3, 1), Finish("stop")]))
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta",
                                            "content_block_stop", "message_delta", "message_stop"]
    assert events[0][1]["message"]["model"] == "claude-test"


def test_a_tool_call_without_arguments_still_joins_to_an_object() -> None:
    stream = check_stream(parse_sse(encode([ToolCallDelta(0, None, "ping", ""), Finish("tool_calls")])))
    assert stream.tool_uses[0]["input"] == {}


def test_text_after_a_tool_call_opens_a_new_block_and_late_arguments_of_a_closed_call_are_dropped() -> None:
    stream = check_stream(parse_sse(encode([
        ToolCallDelta(0, None, "a", "{}"), TextDelta("x"), ToolCallDelta(0, None, None, "junk"), Finish("stop"),
    ])))
    assert [b["type"] for b in stream.blocks] == ["tool_use", "text"] and stream.stop_reason == "tool_use"


def test_stop_reasons() -> None:
    def reason(finish: Finish) -> tuple[str | None, str | None]:
        stream = check_stream(parse_sse(encode([TextDelta("t"), finish])))
        return stream.stop_reason, stream.stop_sequence

    assert reason(Finish("stop")) == ("end_turn", None)
    assert reason(Finish("stop", stop_sequence="END")) == ("stop_sequence", "END")
    assert reason(Finish("length")) == ("max_tokens", None)
    assert reason(Finish("context_window")) == ("model_context_window_exceeded", None)


def test_an_empty_answer_is_still_a_complete_message() -> None:
    stream = check_stream(parse_sse(encode([TextDelta(""), Usage(5, 0), Finish("stop")])))
    assert stream.blocks == [] and stream.stop_reason == "end_turn"


def test_ping_is_a_valid_event() -> None:
    encoder = MessageStreamEncoder("m")
    raw = encoder.message_start() + PING_EVENT + encoder.feed(Finish("stop"))
    assert check_stream(parse_sse(raw)).pings == 1


def test_reasoning_then_text_then_reasoning_keeps_indices_contiguous() -> None:
    stream = check_stream(parse_sse(encode([ReasoningDelta("a"), TextDelta("b"), ReasoningDelta("c"), Finish("stop")])))
    assert [b["type"] for b in stream.blocks] == ["thinking", "text", "thinking"]


def test_text_with_quotes_and_newlines_is_escaped_json() -> None:
    text = 'say "hi"\n\tand \\ bye \u2603'
    events = parse_sse(encode([TextDelta(text), Finish("stop")]))
    assert json.dumps(events[2][1]["delta"]["text"]) == json.dumps(text)
