"""Fuzzed bodies on every JSON route: never a 5xx, always the API's envelope and a request-id, and the
keep-alive connection still serves a good request afterwards.

Each example takes a good body for a route and breaks it in one place (a value replaced by any JSON, a
key removed, a key added), so most examples get past the first checks and reach the deeper ones. The
seed is fixed (derandomize) and the number of examples bounded, so the run is repeatable and short.
Routes that reach the network (`/models/create`, `/api/pull`, push) are left out: an unreachable
registry is a 502 by design.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_tiny_store
from tests.support.server import RunningServer

MODEL = "ai/tiny"
HELLO = [{"role": "user", "content": "hi"}]
TOOL = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {
    "city": {"type": "string"}}}}

# A good body per route; the fuzzer breaks one part of it per example.
GOOD_BODIES: dict[str, dict[str, Any]] = {
    "/v1/messages": {"model": MODEL, "max_tokens": 2, "system": "be brief", "tools": [TOOL],
                     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                                  {"role": "assistant", "content": [{"type": "tool_use", "id": "t1",
                                                                     "name": "get_weather", "input": {}}]},
                                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                                                "content": [{"type": "text", "text": "sun"}]}]}]},
    "/v1/messages/count_tokens": {"model": MODEL, "messages": HELLO, "thinking": {"type": "disabled"},
                                  "output_config": {"format": {"type": "json_schema",
                                                               "schema": {"type": "object"}}}},
    "/v1/chat/completions": {"model": MODEL, "max_tokens": 2, "messages": HELLO, "temperature": 0.5,
                             "stop": ["x"], "tools": [{"type": "function", "function": {
                                 "name": "f", "parameters": {"type": "object"}}}]},
    "/v1/completions": {"model": MODEL, "prompt": "hi", "max_tokens": 2, "seed": 1},
    "/api/chat": {"model": MODEL, "messages": HELLO, "stream": False, "options": {"num_predict": 2}},
    "/api/generate": {"model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 2, "top_k": 5}},
    "/api/show": {"model": MODEL},
    "/engines/_configure": {"model": "fuzz/configured", "context-size": 1024, "runtime-flags": ["--threads", "1"]},
    "/engines/unload": {"models": ["fuzz/not-loaded"]},
    "/models/package": {"gguf": "/nonexistent/fuzz.gguf", "tag": "fuzz/packaged:1"},
}
# Routes whose good body can be sent again and again without changing what the next example sees.
REPEATABLE = ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/v1/completions",
              "/api/chat", "/api/generate", "/api/show")

SPECIAL_NUMBERS = st.sampled_from([0, -1, 2**31, 4294967301, 2**63, 2**64 - 1, -(2**63), 1e308, -0.0, 0.5])
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | SPECIAL_NUMBERS | st.floats(allow_nan=False) | st.text(
    max_size=12)
BLOCK_TYPES = st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking", "json_schema",
                               "function", "base64", "url", "content", "tool", "any", "enabled"])
BLOCKS = st.fixed_dictionaries({"type": BLOCK_TYPES}, optional={
    "text": SCALARS, "source": SCALARS | st.fixed_dictionaries({"type": BLOCK_TYPES}, optional={"data": SCALARS}),
    "content": SCALARS | st.lists(SCALARS | st.fixed_dictionaries({"type": BLOCK_TYPES, "text": SCALARS}),
                                  max_size=2),
    "name": SCALARS, "input": SCALARS, "tool_use_id": SCALARS, "schema": SCALARS, "role": SCALARS,
})
JSON_VALUES = st.recursive(SCALARS | BLOCKS, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=6)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, the document itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths_of(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths_of(child, (*prefix, index)))
    return found


def broken(body: dict[str, Any], path: tuple[Any, ...], how: str, value: Any, new_key: str) -> Any:
    """A deep copy of `body` with the place at `path` replaced, removed, or given an extra key."""
    document: Any = _copied(body)
    if not path:
        return value if how == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "remove":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last][new_key] = value
    else:
        parent[last] = value
    return document


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copied(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_copied(child) for child in value]
    return value


def assert_envelope(path: str, response: httpx.Response) -> None:
    """The error body is the envelope of the API the route belongs to."""
    body = response.json()
    if path.startswith("/api/"):
        assert isinstance(body.get("error"), str) and body["error"], body
    elif path.startswith("/v1/messages"):
        assert body["type"] == "error" and isinstance(body["error"]["message"], str), body
        assert body["request_id"] == response.headers["request-id"]
    else:
        assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["type"], str), body


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Iterator[RunningServer]:
    """A server of its own: the fuzzer configures, unloads and packages, which the shared one must not see."""
    folder = tmp_path_factory.mktemp("fuzz")
    make_tiny_store(folder / "store", tiny_gguf)
    with RunningServer(folder / "store", folder / "server.log") as running:
        httpx.post(running.url + "/models/ai/tiny/tag", params={"repo": "fuzz/configured"}, timeout=30)
        yield running


@pytest.fixture(scope="module")
def http(fuzzed: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzzed.url, timeout=120) as client:
        yield client


def send_and_check(http: httpx.Client, route: str, content: bytes) -> None:
    response = http.post(route, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, (route, content[:300], response.text[:500])
    assert response.headers["request-id"].startswith("req_")
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert_envelope(route, response)
    stream = response.extensions["network_stream"]
    good = (http.post(route, json=GOOD_BODIES[route]) if route in REPEATABLE else http.get("/models"))
    assert good.status_code == 200, (route, good.text[:500])
    assert good.extensions["network_stream"] is stream, "the connection was closed after the fuzzed request"


@settings(derandomize=True, max_examples=250, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data(), route=st.sampled_from(sorted(GOOD_BODIES)),
       how=st.sampled_from(["replace", "replace", "remove", "add"]), value=JSON_VALUES,
       new_key=st.sampled_from(["role", "content", "type", "source", "format", "stream", "x"]))
def test_a_broken_body_is_never_a_server_error(http: httpx.Client, data: st.DataObject, route: str, how: str,
                                               value: Any, new_key: str) -> None:
    good = GOOD_BODIES[route]
    path = data.draw(st.sampled_from(paths_of(good)))
    body = broken(good, path, how, value, new_key)
    send_and_check(http, route, orjson.dumps(body))


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b"null", b"1e400", b'"x"', b"\xff\xfe", b'{"model": "\xff"}',
    b'{"a":' * 300 + b"1" + b"}" * 300, b"[" * 300 + b"]" * 300,
    b'{"model": "ai/tiny", "messages": ' + b"[" * 200 + b"]" * 200 + b"}",
])
@pytest.mark.parametrize("route", sorted(GOOD_BODIES))
def test_a_body_that_is_not_a_json_object_is_a_400(http: httpx.Client, route: str, content: bytes) -> None:
    send_and_check(http, route, content)


def test_logs_with_a_bad_tail_answers_the_envelope(http: httpx.Client) -> None:
    response = http.get("/logs", params={"tail": "abc"})
    assert response.status_code == 400 and "tail" in response.json()["error"]["message"]
    assert response.headers["request-id"].startswith("req_")


KNOWN_CASES = [  # the places the first fuzzing round found, each with the words its answer must say
    ("/v1/messages", {"messages": [{"role": "user", "content": [{"type": "document", "source": "x"}]}]},
     ["source", "object"]),
    ("/v1/messages", {"output_config": {"format": 5}}, ["output_config.format"]),
    ("/v1/messages", {"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": 5}]}]}]}, ["text", "string"]),
    ("/v1/messages", {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
                                                                   "content": 5}]}]}, ["content"]),
    ("/v1/messages", {"messages": [{"role": {"a": 1}, "content": "x"}]}, ["role"]),
    ("/v1/messages", {"max_tokens": 4294967301}, ["max_tokens", "2147483647"]),
    ("/v1/messages", {"max_tokens": 2**64 - 1}, ["max_tokens", "2147483647"]),
    ("/v1/chat/completions", {"messages": [{"role": {"a": 1}, "content": "x"}]}, ["role"]),
    ("/v1/chat/completions", {"max_tokens": 4294967301}, ["max_tokens", "2147483647"]),
    ("/v1/chat/completions", {"tools": [{"type": "function", "function": {"parameters": {}}}]},
     ["tools[0].function.name", "required"]),  # the OpenAI dialect reads tools itself since #11
    ("/api/chat", {"messages": [{"role": {"a": 1}, "content": "x"}]}, ["role"]),
    ("/api/generate", {"options": {"num_predict": 2**64 - 1}}, ["num_predict", "2147483647"]),
    ("/engines/_configure", {"runtime-flags": 5}, ["runtime-flags"]),
    ("/v1/messages", {"model": "a" * 300}, ["255"]),
]


@pytest.mark.parametrize(("route", "change", "words"), KNOWN_CASES)
def test_known_bad_inputs_are_400s_that_say_why(http: httpx.Client, route: str, change: dict[str, Any],
                                                 words: list[str]) -> None:
    response = http.post(route, json={**GOOD_BODIES[route], **change})
    assert response.status_code == 400, response.text
    assert_envelope(route, response)
    message = response.text
    for word in words:
        assert word in message, message
