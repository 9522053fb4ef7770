"""Bad input gets a clear error in the OpenAI envelope, never a 500 or a stack trace."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import RunningServer

CHAT = "/engines/v1/chat/completions"


@pytest.fixture(scope="module")
def http(server: RunningServer) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def assert_openai_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type"}
    for word in words:
        assert word in error["message"]
    assert "Traceback" not in response.text
    assert response.headers["request-id"].startswith("req_")


def test_unknown_model_is_a_404_naming_it(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "ai/nope", "messages": [{"role": "user", "content": "x"}]})
    assert_openai_error(response, 404, "ai/nope")
    assert response.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", ["not valid JSON"]),
        (b"", ["empty"]),
        (b"[1, 2]", ["JSON object"]),
        (b'{"messages": [{"role": "user", "content": "x"}]}', ["model", "required"]),
        (b'{"model": "ai/tiny"}', ["messages", "required"]),
        (b'{"model": "ai/tiny", "messages": []}', ["messages"]),
        (b'{"model": "ai/tiny", "messages": [{"role": "wizard", "content": "x"}]}', ["role"]),
        (b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', ["max_tokens"]),
        (b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', ["temperature"]),
        (b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}], "n": 2}', ["n > 1"]),
        (b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}',
         ["response_format"]),
        (b'{"model": "../../etc", "messages": [{"role": "user", "content": "x"}]}', ["invalid model reference"]),
    ],
)
def test_malformed_bodies_are_400s_that_say_what_is_wrong(http: httpx.Client, body: bytes, words: list[str]) -> None:
    response = http.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert_openai_error(response, 400, *words)


def test_a_body_over_32_mib_is_refused_with_413(http: httpx.Client) -> None:
    big = b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "' + b"a" * (33 * 1024 * 1024) + b'"}]}'
    response = http.post(CHAT, content=big, headers={"content-type": "application/json"})
    assert_openai_error(response, 413, "32 MiB")


def test_a_body_over_32_mib_without_content_length_is_refused(http: httpx.Client) -> None:
    def chunks():
        yield b'{"model": "ai/tiny", "messages": [{"role": "user", "content": "'
        for _ in range(33):
            yield b"a" * (1024 * 1024)
        yield b'"}]}'

    response = http.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
    assert_openai_error(response, 413, "32 MiB")


def test_a_prompt_longer_than_the_context_is_a_400(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "ai/tiny", "messages": [{"role": "user", "content": "word " * 5000}]})
    assert_openai_error(response, 400, "prompt is too long")


def test_unknown_routes_answer_in_the_envelope(http: httpx.Client) -> None:
    assert_openai_error(http.get("/engines/v1/nothing-here"), 404)


def test_the_server_still_serves_after_all_that(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
    assert response.status_code == 200
