"""Broken workers and stopping servers: a hung worker is reaped after failed health checks and its
request fails in its API's format; the next request starts a fresh worker; no worker outlives its
server, whether the server is stopped or killed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import psutil

from tests.support.lifecycle import (
    RawRequest,
    chat,
    chat_body,
    paused_workers,
    running,
    start_server,
    store_with_models,
    wait_until,
    workers_of,
)
from tests.support.server import RunningServer


def _gone(pids: list[int]) -> bool:
    def exited(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    return all(exited(pid) for pid in pids)


def test_a_hung_worker_is_reaped_and_replaced(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_HEALTH_CHECK_INTERVAL="0.3",
                          MODEL_RUNNER_HEALTH_CHECK_TIMEOUT="0.5", MODEL_RUNNER_PARALLEL="1")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/tiny").status_code == 200
            with paused_workers(server) as pids:
                stream = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny"))
                wait_until(lambda: running(http)["ai/tiny:latest"]["active_requests"] == 1, what="it to start")
                queued = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny", max_tokens=3))
                wait_until(lambda: "no answer to 2 health checks" in server.log(), what="the hung worker to be reaped")
            answer = stream.read_until(b"}")
            stream.hang_up()
            # The request waiting for a slot was not sent to the hung worker: it runs on the new one.
            assert queued.read_until(b'"finish_reason"').startswith(b"HTTP/1.1 200")
            queued.hang_up()
            assert answer.startswith(b"HTTP/1.1 500") or answer.startswith(b"HTTP/1.1 503")
            assert b'"error"' in answer and b"ai/tiny:latest" in answer
            assert "no answer to 2 health checks" in server.log()
            assert _gone(pids)
            response = chat(http, "ai/tiny")
            assert response.status_code == 200, response.text
            assert [w.pid for w in workers_of(server)] != pids
    finally:
        server.stop()


def _two_models_loaded(tmp_path: Path, tiny_gguf: Path) -> RunningServer:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/one", "ai/two"])
    server = start_server(store.root, tmp_path / "log")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/one").status_code == 200
            assert chat(http, "ai/two").status_code == 200
    except BaseException:
        server.stop()
        raise
    return server


def test_no_worker_outlives_a_killed_server(tmp_path: Path, tiny_gguf: Path) -> None:
    server = _two_models_loaded(tmp_path, tiny_gguf)
    try:
        pids = [worker.pid for worker in workers_of(server)]
        assert len(pids) == 2
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        wait_until(lambda: _gone(pids), what="the workers to exit")
    finally:
        server.stop()


def test_sigint_stops_every_worker(tmp_path: Path, tiny_gguf: Path) -> None:
    server = _two_models_loaded(tmp_path, tiny_gguf)
    try:
        pids = [worker.pid for worker in workers_of(server)]
        assert server.process is not None
        server.process.send_signal(signal.SIGINT)
        server.process.wait(60)
        assert _gone(pids)
        assert server.log().count("unloaded ai/") == 2
    finally:
        server.stop()


def test_sigterm_lets_a_request_in_flight_finish_then_stops_the_workers(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/tiny").status_code == 200
            with paused_workers(server) as pids:
                in_flight = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny", max_tokens=2000))
                wait_until(lambda: running(http)["ai/tiny:latest"]["active_requests"] == 1, what="it to start")
                assert server.process is not None
                server.process.send_signal(signal.SIGTERM)
                wait_until(lambda: "Shutting down" in server.log(), what="the server to begin shutting down")
        answer = in_flight.read_until(b'"finish_reason"')
        in_flight.hang_up()
        assert answer.startswith(b"HTTP/1.1 200")
        server.process.wait(60)
        assert _gone(pids)
    finally:
        server.stop()


def test_shutdown_does_not_wait_forever_for_a_stuck_request(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_SHUTDOWN_GRACE="1")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/tiny").status_code == 200
            with paused_workers(server) as pids:
                stuck = RawRequest(server, "/engines/v1/chat/completions", chat_body("ai/tiny"))
                wait_until(lambda: running(http)["ai/tiny:latest"]["active_requests"] == 1, what="it to start")
                assert server.process is not None
                server.process.send_signal(signal.SIGTERM)
                server.process.wait(60)
        stuck.hang_up()
        assert _gone(pids)
        assert "unloaded ai/tiny:latest" in server.log()
    finally:
        server.stop()
