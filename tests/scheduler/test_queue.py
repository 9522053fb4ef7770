"""Admission on a real worker with one slot and a queue of two. A slot is held by a request whose
worker is paused (SIGSTOP), so "busy" does not depend on how fast the tiny model generates."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.lifecycle import (
    RawRequest,
    chat,
    chat_body,
    held_slot,
    paused_workers,
    running,
    start_server,
    store_with_models,
    wait_until,
)
from tests.support.server import RunningServer

QUEUE_LENGTH = 2
CONTENDERS = 6
MODEL = "ai/tiny:latest"


def _server(tmp_path: Path, tiny_gguf: Path, **env: str) -> RunningServer:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    return start_server(store.root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                        MODEL_RUNNER_QUEUE_LENGTH=str(QUEUE_LENGTH), **env)


@pytest.fixture
def server(tmp_path: Path, tiny_gguf: Path) -> Iterator[RunningServer]:
    running_server = _server(tmp_path, tiny_gguf)
    try:
        yield running_server
    finally:
        running_server.stop()


def _queued(http: httpx.Client) -> int:
    return int(running(http).get(MODEL, {}).get("queued_requests", 0))


def test_requests_beyond_slots_and_queue_get_429_and_the_rest_complete(server: RunningServer) -> None:
    def contender(seed: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return chat(client, "ai/tiny", seed=seed, max_tokens=5)

    with httpx.Client(base_url=server.url, timeout=60) as http, ThreadPoolExecutor(CONTENDERS) as pool:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny"):
            futures: list[Future[httpx.Response]] = [pool.submit(contender, n) for n in range(CONTENDERS)]
            rejected = CONTENDERS - QUEUE_LENGTH
            wait_until(lambda: sum(f.done() for f in futures) == rejected and _queued(http) == QUEUE_LENGTH,
                       what="the queue to fill and the rest to be refused")
            early = [f.result() for f in futures if f.done()]
        responses = [f.result() for f in futures]
    assert [r.status_code for r in early] == [429] * rejected
    for response in early:
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["message"].startswith("ai/tiny:latest is busy")
    completed = [r for r in responses if r not in early]
    assert [r.status_code for r in completed] == [200] * QUEUE_LENGTH
    assert len({r.json()["id"] for r in completed}) == QUEUE_LENGTH
    assert all(r.json()["usage"]["completion_tokens"] == 5 for r in completed)


def test_a_queued_request_whose_client_leaves_leaves_the_queue(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny"):
            impatient = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny", max_tokens=3))
            wait_until(lambda: _queued(http) == 1, what="the request to queue")
            impatient.hang_up()
            wait_until(lambda: _queued(http) == 0, what="the request to leave the queue")
            assert running(http)[MODEL]["active_requests"] == 1
        wait_until(lambda: running(http)[MODEL]["active_requests"] == 0, what="the held slot to be freed")
        assert chat(http, "ai/tiny").status_code == 200
    assert "client left POST /engines/v1/chat/completions" in server.log()


def test_a_non_streamed_request_whose_client_leaves_frees_its_slot(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny") as holder:
            holder.hang_up()
            # The worker is paused: only the disconnect can have ended the request.
            wait_until(lambda: running(http)[MODEL]["active_requests"] == 0, what="the slot to be freed")
        assert chat(http, "ai/tiny").status_code == 200


def test_a_stream_whose_client_leaves_mid_answer_frees_its_slot(tmp_path: Path, tiny_gguf: Path) -> None:
    # A context this long keeps the tiny model generating for seconds, so the pause lands mid-answer.
    server = _server(tmp_path, tiny_gguf, MODEL_RUNNER_CONTEXT_SIZE="65536")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/tiny").status_code == 200
            stream = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny", stream=True))
            stream.read_until(b"data: ")
            with paused_workers(server):
                assert running(http)[MODEL]["active_requests"] == 1
                stream.hang_up()
                wait_until(lambda: running(http)[MODEL]["active_requests"] == 0, what="the slot to be freed")
            response = chat(http, "ai/tiny")
            assert response.status_code == 200, response.text
        wait_until(lambda: "POST /engines/v1/chat/completions 200 incomplete" in server.log(),
                   what="the access log line of the abandoned stream")
    finally:
        server.stop()


@pytest.fixture
def roomy_server(tmp_path: Path, tiny_gguf: Path) -> Iterator[RunningServer]:
    """A context so much longer than a short body that a stream is not token-counted (by the paused
    worker) before it starts."""
    running_server = _server(tmp_path, tiny_gguf)
    try:
        configured = httpx.post(running_server.url + "/engines/_configure",
                                json={"model": "ai/tiny", "context-size": 16384}, timeout=60)
        assert configured.status_code == 202, configured.text
        yield running_server
    finally:
        running_server.stop()


ANTHROPIC_STREAM = {"model": "ai/tiny", "max_tokens": 3, "stream": True, "messages": [{"role": "user", "content": "go"}]}


def _anthropic_stream(server: RunningServer) -> RawRequest:
    return RawRequest(server, "/v1/messages", ANTHROPIC_STREAM)


def test_an_anthropic_stream_beyond_the_queue_is_refused_with_a_429_before_it_starts(
    roomy_server: RunningServer,
) -> None:
    server = roomy_server
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny"):
            queued = [_anthropic_stream(server) for _ in range(QUEUE_LENGTH)]
            for stream in queued:  # a queued stream is accepted: message_start at once, the answer later
                stream.read_until(b"event: message_start")
            wait_until(lambda: _queued(http) == QUEUE_LENGTH, what="the queue to fill")
            refused = http.post("/v1/messages", json=ANTHROPIC_STREAM)
        for stream in queued:
            stream.read_until(b"event: message_stop")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["type"] == "error" and refused.json()["error"]["type"] == "rate_limit_error"


def test_a_queued_anthropic_stream_whose_client_leaves_gives_its_place_back(roomy_server: RunningServer) -> None:
    server = roomy_server
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny"):
            impatient = _anthropic_stream(server)
            impatient.read_until(b"event: message_start")
            wait_until(lambda: _queued(http) == 1, what="the stream to queue")
            impatient.hang_up()
            wait_until(lambda: _queued(http) == 0, what="the stream to leave the queue")
        wait_until(lambda: running(http)[MODEL]["active_requests"] == 0, what="every slot to be free")
        assert chat(http, "ai/tiny").status_code == 200


def test_a_queued_anthropic_stream_is_kept_alive_with_pings(roomy_server: RunningServer) -> None:
    """The wait for a slot can be long (here: as long as the worker stays paused); the spec wants a ping
    at least every 10 s while nothing else flows."""
    server = roomy_server
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        with held_slot(http, server, "ai/tiny"):
            waiting = _anthropic_stream(server)
            waiting.read_until(b"event: message_start")
            started = time.monotonic()
            waiting.read_until(b'event: ping\ndata: {"type":"ping"}\n\n')
            assert time.monotonic() - started < 10
        received = waiting.read_until(b"event: message_stop")
    assert received.index(b"event: ping") < received.index(b"event: content_block_start")
