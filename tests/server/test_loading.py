"""Loading on demand: one load for concurrent first requests, names that all reach one model, a
worker that dies and is replaced, and a corrupt GGUF that fails loudly without harming the server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from tests.conftest import make_tiny_store
from tests.support.lifecycle import chat, running, workers_of
from tests.support.server import RunningServer


@pytest.fixture
def private_server(tmp_path: Path, tiny_gguf: Path) -> Iterator[RunningServer]:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    spare = tmp_path / "spare.gguf"
    spare.write_bytes(tiny_gguf.read_bytes() + b"another digest")
    package_gguf(store, PackageSpec(gguf_paths=[spare]), [parse_reference("ai/spare")])
    # Package a valid copy, then truncate its blob on disk: what a damaged disk or a killed copy leaves.
    copy = tmp_path / "broken.gguf"
    copy.write_bytes(tiny_gguf.read_bytes() + b"different digest")
    broken = package_gguf(store, PackageSpec(gguf_paths=[copy]), [parse_reference("ai/broken")])
    blob = store.blob_path(broken.manifest["layers"][0]["digest"])
    truncated = tmp_path / "truncated"
    truncated.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    truncated.replace(blob)
    with RunningServer(store.root, tmp_path / "server.log") as server:
        yield server


def test_concurrent_first_requests_share_one_load(private_server: RunningServer) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=private_server.url, timeout=60) as http:
            responses = await asyncio.gather(*(
                http.post("/engines/v1/chat/completions",
                          json={"model": "ai/tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
                for _ in range(6)))
            return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 6
    assert len(workers_of(private_server)) == 1
    assert private_server.log().count("loaded ai/tiny:latest") == 1


def test_every_name_of_the_model_reaches_the_same_worker(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        model_id = http.get("/models/ai/tiny").json()["id"]
        for name in ["tiny", "ai/tiny", "ai/tiny:latest", "docker.io/ai/tiny:latest", model_id, model_id[7:19]]:
            response = chat(http, name)
            assert response.status_code == 200, (name, response.text)
            assert response.json()["model"] == name
    assert len(workers_of(private_server)) == 1


def test_preload_only_loads_without_generating(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        assert workers_of(private_server) == []
        response = http.post("/engines/v1/chat/completions", headers={"X-Preload-Only": "true"},
                             json={"model": "ai/tiny", "messages": [{"role": "user", "content": "x"}]})
        assert response.status_code == 200
        assert "choices" not in response.json()
        assert len(workers_of(private_server)) == 1


def test_a_killed_worker_fails_its_stream_cleanly_and_is_replaced(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
        (worker,) = workers_of(private_server)
        body = {"model": "ai/tiny", "messages": [{"role": "user", "content": "go"}], "max_tokens": 100000,
                "stream": True}
        with http.stream("POST", "/engines/v1/chat/completions", json=body) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("data: ")
            os.kill(worker.pid, signal.SIGKILL)
            rest = list(lines)
        assert any('"error"' in line for line in rest), rest[-3:]
        assert "data: [DONE]" not in rest
        response = chat(http, "ai/tiny")
        assert response.status_code == 200, response.text
        (replacement,) = workers_of(private_server)
        assert replacement.pid != worker.pid


def test_a_corrupt_gguf_fails_with_the_file_and_reason(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        response = chat(http, "ai/broken")
        assert response.status_code == 500
        error = response.json()["error"]
        assert "ai/broken" in error["message"] and "model.gguf" in error["message"]
        assert response.headers["x-should-retry"] == "false"
        again = chat(http, "ai/broken")
        assert again.status_code == 500
        assert chat(http, "ai/tiny").status_code == 200
    assert "not within the file bounds" in error["message"]


def test_stopping_the_server_stops_its_workers(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        assert chat(http, "ai/tiny").status_code == 200
    pids = [w.pid for w in workers_of(private_server)]
    assert pids
    # uvicorn re-raises the signal after its graceful shutdown, so SIGTERM shows as -15.
    assert private_server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in private_server.log()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in pids):
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def test_deleting_a_loaded_model_unloads_it(private_server: RunningServer) -> None:
    with httpx.Client(base_url=private_server.url, timeout=60) as http:
        assert chat(http, "ai/spare").status_code == 200
        assert "ai/spare:latest" in running(http)
        (worker,) = workers_of(private_server)
        deleted = http.delete("/models/ai/spare")
        assert deleted.status_code == 200, deleted.text
        assert running(http) == {}
        assert not psutil.pid_exists(worker.pid) or worker.status() == psutil.STATUS_ZOMBIE
        assert chat(http, "ai/tiny").status_code == 200
