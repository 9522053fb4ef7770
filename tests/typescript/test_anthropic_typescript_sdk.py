"""The official Anthropic TypeScript SDK (`@anthropic-ai/sdk` from npm, installed by
scripts/setup.sh --test) against a real server on the tiny model."""

from __future__ import annotations


import jsonschema
import pytest

from tests.support.server import RunningServer
from tests.typescript.sdk_runner import run_sdk_check

@pytest.fixture(scope="module")
def report(server: RunningServer) -> dict:
    return run_sdk_check(server, "sdk_check.mjs")


def test_create(report: dict) -> None:
    created = report["created"]
    assert created["id"].startswith("msg_") and created["model"] == "ai/tiny"
    assert created["content"][0]["type"] == "text" and created["usage"]["output_tokens"] >= 1


def test_stream_final_message_matches_the_text_events(report: dict) -> None:
    stream = report["stream"]
    assert stream["events"][0] == "message_start" and stream["events"][-1] == "message_stop"
    assert stream["final"]["content"][0]["text"] == stream["text"] != ""
    assert stream["final"]["stop_reason"] in ("max_tokens", "end_turn")


def test_tool_call_with_named_choice(report: dict) -> None:
    for message in (report["tool"]["message"], report["tool"]["streamed"]):
        assert message["stop_reason"] == "tool_use"
        [call] = [block for block in message["content"] if block["type"] == "tool_use"]
        assert call["name"] == "get_weather" and call["id"].startswith("toolu_")
        jsonschema.validate(call["input"], {"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}},
                                            "required": ["city"]})


def test_count_tokens_equals_generation(report: dict) -> None:
    assert report["count"]["input_tokens"] == report["count"]["generation"] > 0


def test_models_list_and_typed_not_found(report: dict) -> None:
    assert "ai/tiny:latest" in report["models"]
    assert report["notFound"] == {"status": 404, "type": "not_found_error"}
