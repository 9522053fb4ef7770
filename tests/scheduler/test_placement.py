"""Memory-aware placement on real workers: several models side by side while they fit, the least
recently used idle one evicted when the next does not, and an immediate refusal when a model cannot
fit even on an empty machine."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.lifecycle import (
    chat,
    estimated_bytes,
    held_slot,
    running,
    start_server,
    store_with_models,
    wait_until,
    workers_of,
)

MODELS = ["ai/one", "ai/two", "ai/three"]


@pytest.fixture
def store_root(tmp_path: Path, tiny_gguf: Path) -> Path:
    return store_with_models(tmp_path / "store", tiny_gguf, MODELS).root


def _budget(store_root: Path, models: float) -> str:
    from modelrunner.store.store import ModelStore

    return str(int(estimated_bytes(ModelStore(store_root), "ai/one", parallel_slots=1) * models))


def test_three_models_load_side_by_side_when_they_fit(store_root: Path, tmp_path: Path) -> None:
    server = start_server(store_root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                          MODEL_RUNNER_MEMORY_BUDGET=_budget(store_root, 3.5))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for name in MODELS:
                assert chat(http, name).status_code == 200
            assert set(running(http)) == {f"{name}:latest" for name in MODELS}
            assert len({worker.pid for worker in workers_of(server)}) == 3
    finally:
        server.stop()


def test_the_least_recently_used_idle_model_is_evicted(store_root: Path, tmp_path: Path) -> None:
    server = start_server(store_root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                          MODEL_RUNNER_MEMORY_BUDGET=_budget(store_root, 2.5))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/one").status_code == 200
            assert chat(http, "ai/two").status_code == 200
            assert chat(http, "ai/one").status_code == 200  # ai/two is now the least recently used
            assert chat(http, "ai/three").status_code == 200
            assert set(running(http)) == {"ai/one:latest", "ai/three:latest"}
            assert chat(http, "ai/two").status_code == 200  # and now ai/one is
            assert set(running(http)) == {"ai/three:latest", "ai/two:latest"}
            assert len(workers_of(server)) == 2
        assert "evicted to make room for ai/three:latest" in server.log()
    finally:
        server.stop()


def test_a_model_larger_than_the_budget_is_refused_at_once(store_root: Path, tmp_path: Path) -> None:
    server = start_server(store_root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                          MODEL_RUNNER_MEMORY_BUDGET=_budget(store_root, 0.5))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = chat(http, "ai/one")
            assert response.status_code == 503
            message = response.json()["error"]["message"]
            assert message.startswith("not enough memory for ai/one:latest: needs ")
            assert "available" in message
            assert "retry-after" in response.headers
            assert running(http) == {}
        assert workers_of(server) == []
    finally:
        server.stop()


def test_a_model_that_fits_only_by_evicting_a_busy_one_is_refused(store_root: Path, tmp_path: Path) -> None:
    server = start_server(store_root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                          MODEL_RUNNER_MEMORY_BUDGET=_budget(store_root, 1.5))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert chat(http, "ai/one").status_code == 200
            with held_slot(http, server, "ai/one"):
                response = chat(http, "ai/two")
                assert response.status_code == 503
                assert "the other models are in use" in response.json()["error"]["message"]
                assert set(running(http)) == {"ai/one:latest"}
            wait_until(lambda: not running(http)["ai/one:latest"]["in_use"], what="ai/one to be idle")
            assert chat(http, "ai/two").status_code == 200
            assert set(running(http)) == {"ai/two:latest"}
    finally:
        server.stop()
