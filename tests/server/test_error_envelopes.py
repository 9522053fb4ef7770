"""Errors answer in the envelope of the API whose route was called, unknown paths included: the
router knows the API, the URL's text is never inspected."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def is_anthropic(body: dict) -> bool:
    return body.get("type") == "error" and isinstance(body.get("error"), dict) and "type" in body["error"]


def is_openai(body: dict) -> bool:
    return "type" not in body and isinstance(body.get("error"), dict) and {"message", "type", "code"} <= set(body["error"])


def is_ollama(body: dict) -> bool:
    return set(body) == {"error"} and isinstance(body["error"], str)


@pytest.mark.parametrize("path", ["/v1/messages/anything", "/v1/messages/batches/msgbatch_x/nothing", "/anthropic/v1/messages/x/y",
                                  "/engines/v1/messages/nope", "/engines/llama.cpp/v1/messages/nope",
                                  "/anthropic/v1/nothing"])
def test_unknown_paths_under_anthropic_prefixes_are_anthropic_not_found(http: httpx.Client, path: str) -> None:
    response = http.post(path, json={})
    assert response.status_code == 404, response.text
    body = response.json()
    assert is_anthropic(body) and body["error"]["type"] == "not_found_error", body
    assert body["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize("path", ["/api/nothing", "/api/chat/extra"])
def test_unknown_paths_under_the_ollama_prefix_are_ollamas(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404 and is_ollama(response.json()), response.text


@pytest.mark.parametrize("path", ["/v1/nothing", "/engines/v1/embeddingz", "/engines/llama.cpp/v1/x"])
def test_other_unknown_paths_under_v1_are_openais(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404, response.text
    body = response.json()
    assert is_openai(body) and body["error"]["type"] == "not_found_error", body


def test_a_known_path_with_the_wrong_method_is_still_a_405_in_its_apis_envelope(http: httpx.Client) -> None:
    anthropic = http.get("/v1/messages")
    assert anthropic.status_code == 405 and is_anthropic(anthropic.json()), anthropic.text
    ollama = http.get("/api/chat")
    assert ollama.status_code == 405 and is_ollama(ollama.json()), ollama.text
    openai = http.get("/v1/chat/completions")
    assert openai.status_code == 405 and is_openai(openai.json()), openai.text


def test_errors_inside_each_api_use_its_envelope(http: httpx.Client) -> None:
    missing = {"model": "ai/nope", "messages": [{"role": "user", "content": "x"}]}
    assert is_anthropic(http.post("/v1/messages", json={**missing, "max_tokens": 4}).json())
    assert is_openai(http.post("/v1/chat/completions", json=missing).json())
    assert is_ollama(http.post("/api/chat", json={**missing, "stream": False}).json())


def declared_too_large(server: RunningServer, path: str) -> tuple[int, dict]:
    """A request whose declared length is over the limit: the edge answers before reading the body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {10 ** 12}\r\nConnection: close\r\n\r\n{{}}".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)


def test_a_body_refused_at_the_edge_answers_in_the_routes_envelope(server: RunningServer) -> None:
    for path, check in (("/v1/messages", is_anthropic), ("/api/chat", is_ollama), ("/v1/chat/completions", is_openai)):
        status, body = declared_too_large(server, path)
        assert status == 413 and check(body), (path, body)


@pytest.mark.parametrize(("path", "in_envelope"), [("/engines/vllm/v1/chat/completions", is_openai),
                                                   ("/engines/vllm/v1/messages", is_anthropic),
                                                   ("/engines/vllm/rerank", is_openai)])
def test_an_engine_this_runner_does_not_serve_is_a_404_naming_the_ones_it_does(http: httpx.Client, path: str,
                                                                            in_envelope) -> None:
    """Docker Model Runner's clients name the engine in the path; another engine's name must not be
    answered by llama.cpp as if it were that engine."""
    response = http.post(path, json={"model": "ai/tiny", "max_tokens": 4, "query": "q", "documents": ["d"],
                                     "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404 and in_envelope(response.json()), response.text
    assert "'vllm'" in response.text and "'llama.cpp'" in response.text


def test_the_engine_this_runner_serves_answers_under_its_name(http: httpx.Client) -> None:
    response = http.post("/engines/llama.cpp/v1/chat/completions",
                         json={"model": "ai/tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.json()["object"] == "chat.completion", response.text


def test_a_query_parameter_of_the_wrong_type_is_a_400_in_the_routes_envelope(http: httpx.Client) -> None:
    response = http.get("/engines/requests", params={"limit": "many"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert is_openai(body) and "limit" in body["error"]["message"], body
