"""keep_alive on real workers: `0` unloads right after the request, a short duration unloads after it,
a negative one never does, and a model's configured keep_alive applies without a per-request value."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.lifecycle import chat, running, start_server, store_with_models, wait_until, workers_of
from tests.support.server import RunningServer

CHECK_INTERVAL_S = 0.1


@pytest.fixture
def server(tmp_path: Path, tiny_gguf: Path) -> Iterator[RunningServer]:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny", "ai/other"])
    running_server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                                  MODEL_RUNNER_KEEP_ALIVE_CHECK_INTERVAL=str(CHECK_INTERVAL_S))
    try:
        yield running_server
    finally:
        running_server.stop()


def test_keep_alive_zero_unloads_right_after_the_request(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny", keep_alive=0).status_code == 200
        assert running(http) == {}
        wait_until(lambda: workers_of(server) == [], what="the worker to exit")


def test_a_short_keep_alive_unloads_after_it_and_not_before(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny", keep_alive="2s").status_code == 200
        assert chat(http, "ai/other", keep_alive="1h").status_code == 200
        assert running(http)["ai/tiny:latest"]["keep_alive"] == 2.0
        wait_until(lambda: "ai/tiny:latest" not in running(http), what="ai/tiny to unload")
        assert "ai/other:latest" in running(http)
        wait_until(lambda: "unloaded ai/tiny:latest: idle for 2s" in server.log(), what="the unload to be logged")


def test_a_negative_keep_alive_never_unloads(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/tiny", keep_alive="-1").status_code == 200
        assert chat(http, "ai/other", keep_alive="1s").status_code == 200
        wait_until(lambda: "ai/other:latest" not in running(http), what="ai/other to unload")
        time.sleep(20 * CHECK_INTERVAL_S)
        assert running(http)["ai/tiny:latest"]["keep_alive"] == -1


def test_a_configured_keep_alive_is_the_models_default(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.post("/engines/_configure", json={"model": "ai/tiny", "keep_alive": "0"}).status_code == 202
        assert chat(http, "ai/tiny").status_code == 200
        assert running(http) == {}
