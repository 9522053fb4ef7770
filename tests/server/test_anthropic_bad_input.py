"""Bad input on the Anthropic routes: Anthropic's envelope, the right status and error.type, a
request-id, and lenience where the spec asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.server import RunningServer

MESSAGES = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def assert_anthropic_error(response: httpx.Response, status: int, error_type: str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    for word in words:
        assert word in body["error"]["message"], body
    request_id = response.headers["request-id"]
    assert request_id.startswith("req_") and body["request_id"] == request_id
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(("body", "words"), [
    ({"model": "ai/tiny", "messages": HELLO}, ["max_tokens", "required"]),
    ({"max_tokens": 5, "messages": HELLO}, ["model", "required"]),
    ({"model": "ai/tiny", "max_tokens": 5}, ["messages", "required"]),
    ({"model": "ai/tiny", "max_tokens": 0, "messages": HELLO}, ["max_tokens"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": []}, ["messages"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}, ["role"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": [{"role": "user", "content": "  "}]}, ["messages"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": HELLO, "tool_choice": {"type": "tool", "name": "x"},
      "tools": [{"name": "y", "input_schema": {"type": "object"}}]}, ["tool_choice"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": HELLO, "tools": [{"name": "y"}]}, ["input_schema"]),
    ({"model": "ai/tiny", "max_tokens": 5, "messages": HELLO, "stop_sequences": ["s"] * 17}, ["stop_sequences"]),
    ({"model": "ai/tiny", "max_tokens": 5, "stream": True, "tool_choice": {"type": "any"},
      "tools": [{"name": "y", "input_schema": {"type": "object"}}],
      "messages": [*HELLO, {"role": "assistant", "content": "Sure"}]}, ["prefilled", "tool_choice"]),
])
def test_invalid_bodies_are_invalid_request_errors(http: httpx.Client, body: dict, words: list[str]) -> None:
    response = http.post(MESSAGES, json=body)
    assert_anthropic_error(response, 400, "invalid_request_error", *words)
    assert "x-should-retry" not in response.headers


def test_count_tokens_needs_no_max_tokens_but_the_rest(http: httpx.Client) -> None:
    assert http.post(COUNT, json={"model": "ai/tiny", "messages": HELLO}).json()["input_tokens"] > 0
    assert_anthropic_error(http.post(COUNT, json={"model": "ai/tiny"}), 400, "invalid_request_error", "messages")


def test_not_json_and_not_an_object(http: httpx.Client) -> None:
    assert_anthropic_error(http.post(MESSAGES, content=b"{nope", headers={"content-type": "application/json"}),
                           400, "invalid_request_error", "JSON")
    assert_anthropic_error(http.post(MESSAGES, json=[1]), 400, "invalid_request_error", "object")


@pytest.mark.parametrize("path", [MESSAGES, COUNT, "/anthropic/v1/messages", "/engines/llama.cpp/v1/messages"])
def test_unknown_models_are_404_before_any_byte_even_when_streaming(http: httpx.Client, path: str) -> None:
    response = http.post(path, json={"model": "ai/nope", "max_tokens": 5, "stream": True, "messages": HELLO})
    assert_anthropic_error(response, 404, "not_found_error", "ai/nope")


@pytest.mark.parametrize(("block", "words"), [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}, ["vision"]),
    ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}, ["PDF"]),
    ({"type": "document", "source": {"type": "url", "url": "https://example.com/x.pdf"}}, ["URL"]),
])
def test_unsupported_inputs_say_what_is_unsupported(http: httpx.Client, block: dict, words: list[str]) -> None:
    body = {"model": "ai/tiny", "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]}
    assert_anthropic_error(http.post(MESSAGES, json=body), 400, "invalid_request_error", *words)
    assert_anthropic_error(http.post(COUNT, json=body), 400, "invalid_request_error", *words)


def test_server_tools_are_a_clear_400(http: httpx.Client) -> None:
    body = {"model": "ai/tiny", "max_tokens": 5, "messages": HELLO,
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]}
    assert_anthropic_error(http.post(MESSAGES, json=body), 400, "invalid_request_error", "web_search_20250305")


def test_unknown_fields_blocks_and_headers_are_ignored(http: httpx.Client) -> None:
    body = {
        "model": "ai/tiny", "max_tokens": 3, "metadata": {"user_id": "u"}, "service_tier": "auto",
        "container": None, "context_management": {"edits": []}, "inference_geo": "us",
        "output_config": {"effort": "low"}, "brand_new_field": {"x": 1}, "cache_control": {"type": "ephemeral"},
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                   {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}, "citations": None},
            {"type": "a_block_from_the_future", "payload": 1},
            {"type": "search_result", "source": "s", "title": "t", "content": []},
        ]}],
    }
    headers = {"anthropic-version": "2099-01-01", "anthropic-beta": "whatever-2099", "x-api-key": "anything",
               "authorization": "Bearer anything-else"}
    response = http.post(MESSAGES + "?beta=true", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


def test_request_too_large_is_413(http: httpx.Client) -> None:
    huge = b'{"model": "ai/tiny", "max_tokens": 5, "messages": [{"role": "user", "content": "' + b"a" * (33 << 20) + b'"}]}'
    response = http.post(MESSAGES, content=huge, headers={"content-type": "application/json"})
    assert_anthropic_error(response, 413, "request_too_large")


def test_sdk_raises_typed_errors(server: RunningServer) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="ai/nope", max_tokens=5, messages=HELLO)
    assert missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="ai/tiny", max_tokens=5, messages=HELLO,
                               tools=[{"type": "code_execution_20250825", "name": "code_execution"}])
    assert bad.value.status_code == 400 and bad.value.request_id.startswith("req_")
