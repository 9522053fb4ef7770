"""Whole answers -> Messages, and the error envelope."""

from __future__ import annotations

from modelrunner.core.answer import CompletedAnswer, ToolCall
from modelrunner.core.chat import Finish, Usage
from modelrunner.core.errors import EngineFailed, InsufficientMemory, InvalidRequest, Overloaded, RequestTooLarge
from modelrunner.dialects.anthropic.errors import error_body
from modelrunner.dialects.anthropic.response import message


def test_content_order_is_thinking_text_tool_use_with_object_inputs() -> None:
    answer = CompletedAnswer(text="Checking.", reasoning="hmm",
                             tool_calls=[ToolCall("call_1", "get_weather", '{"city": "Paris"}'), ToolCall(None, "x", "")],
                             usage=Usage(100, 7, 60), finish=Finish("tool_calls"))
    result = message(answer, model="claude-sonnet-4-5")
    assert [b["type"] for b in result["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert result["content"][0]["signature"]
    assert result["content"][2]["input"] == {"city": "Paris"} and result["content"][3]["input"] == {}
    assert result["content"][2]["id"].startswith("toolu_")
    assert result["model"] == "claude-sonnet-4-5" and result["stop_reason"] == "tool_use"
    assert result["id"].startswith("msg_") and result["type"] == "message" and result["role"] == "assistant"
    assert result["usage"] == {"input_tokens": 40, "output_tokens": 7, "cache_creation_input_tokens": 0,
                               "cache_read_input_tokens": 60}


def test_stop_sequence_is_reported_with_the_matched_string() -> None:
    result = message(CompletedAnswer(text="a", finish=Finish("stop", stop_sequence="###")), model="m")
    assert (result["stop_reason"], result["stop_sequence"]) == ("stop_sequence", "###")


def test_error_envelope_by_kind() -> None:
    body = error_body(InvalidRequest("bad"), "req_1")
    assert body == {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}, "request_id": "req_1"}
    assert error_body(InsufficientMemory("no room"))["error"]["type"] == "overloaded_error"
    assert error_body(Overloaded("busy"))["error"]["type"] == "rate_limit_error"
    assert error_body(RequestTooLarge("big"))["error"]["type"] == "request_too_large"
    assert error_body(EngineFailed("x"))["error"]["type"] == "api_error"
