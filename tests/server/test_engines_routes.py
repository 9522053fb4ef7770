"""The runner management routes on a real server: /engines/ps, /engines/unload, /engines/status,
/engines/df, /engines/_configure (persisted across a restart, 400 naming a bad setting, 409 on a busy
runner), /metrics and /logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.lifecycle import chat, held_slot, running, start_server, store_with_models, workers_of
from tests.support.server import RunningServer


@pytest.fixture
def store_root(tmp_path: Path, tiny_gguf: Path) -> Path:
    return store_with_models(tmp_path / "store", tiny_gguf, ["ai/one", "ai/two"]).root


@pytest.fixture
def server(store_root: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running_server = start_server(store_root, tmp_path / "log", MODEL_RUNNER_PARALLEL="2")
    try:
        yield running_server
    finally:
        running_server.stop()


def test_ps_describes_each_loaded_runner(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/engines/ps").json() == []
        assert chat(http, "ai/one", keep_alive="10m").status_code == 200
        (entry,) = http.get("/engines/ps").json()
    assert entry["backend_name"] == "llama.cpp"
    assert entry["model_name"] == "ai/one:latest"
    assert entry["mode"] == "completion"
    assert entry["loading"] is False and entry["in_use"] is False
    assert entry["keep_alive"] == 600
    assert entry["context_size"] == 2048 and entry["parallel_slots"] == 2
    memory = entry["memory"]
    assert memory["total"] == sum(memory[k] for k in ("weights", "kv_cache", "overhead", "prompt_cache"))
    assert 0 < memory["prompt_cache"] <= memory["kv_cache"]  # llama.cpp's host prompt cache, sized by us
    assert isinstance(memory["resident"], int) and memory["resident"] > memory["weights"]
    assert entry["pid"] == workers_of(server)[0].pid
    assert isinstance(entry["last_used"], int)


def test_unload_by_name_and_all_but_never_a_busy_runner(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for name in ("ai/one", "ai/two"):
            assert chat(http, name).status_code == 200
        assert http.post("/engines/unload", json={"models": ["two"]}).json() == {"unloaded_runners": 1}
        assert set(running(http)) == {"ai/one:latest"}
        with held_slot(http, server, "ai/one"):
            assert http.post("/engines/unload", json={"all": True}).json() == {"unloaded_runners": 0}
            assert running(http)["ai/one:latest"]["in_use"] is True
        assert http.post("/engines/unload", json={"all": True}).json() == {"unloaded_runners": 1}
        assert running(http) == {}
        refused = http.post("/engines/unload", json={})
        assert refused.status_code == 400


def test_status_and_disk_usage(server: RunningServer, tiny_gguf: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        status = http.get("/engines/status").json()
        usage = http.get("/engines/df").json()
    assert status["llama.cpp"].startswith("Running: ")
    # Both models share one GGUF blob; each has its own small config blob.
    assert tiny_gguf.stat().st_size < usage["models_disk_usage"] < 2 * tiny_gguf.stat().st_size
    assert usage["default_backend_disk_usage"] > 1_000_000


def test_configuration_applies_on_next_use_and_survives_a_restart(server: RunningServer, store_root: Path,
                                                                   tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/one").status_code == 200
        old_pid = running(http)["ai/one:latest"]["pid"]
        response = http.post("/engines/llama.cpp/_configure", json={
            "model": "ai/one", "context-size": 1024, "runtime-flags": ["--parallel", "1", "--temp", "0.2"],
            "keep_alive": "-1"})
        assert response.status_code == 202, response.text
        assert response.json()["context-size"] == 1024
        assert running(http) == {}  # the idle runner was stopped; the next request reloads it
        assert chat(http, "ai/one").status_code == 200
        entry = running(http)["ai/one:latest"]
        assert (entry["context_size"], entry["parallel_slots"], entry["keep_alive"]) == (1024, 1, -1)
        assert entry["pid"] != old_pid
    server.stop()
    restarted = start_server(store_root, tmp_path / "log2", MODEL_RUNNER_PARALLEL="2")
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as http:
            (stored,) = http.get("/engines/_configure", params={"model": "ai/one"}).json()
            assert stored["context-size"] == 1024
            assert stored["runtime-flags"] == ["--parallel", "1", "--temp", "0.2"]
            assert http.get("/engines/_configure", params={"model": "ai/two"}).json()[0]["context-size"] is None
            assert chat(http, "ai/one").status_code == 200
            assert running(http)["ai/one:latest"]["context_size"] == 1024
    finally:
        restarted.stop()


@pytest.mark.parametrize(("body", "named"), [
    ({"model": "ai/one", "runtime-flags": ["--model", "/etc/passwd"]}, "--model"),
    ({"model": "ai/one", "runtime-flags": ["--threads", "0"]}, "--threads"),
    ({"model": "ai/one", "context-size": -7}, "context-size"),
    ({"model": "ai/one", "keep_alive": "whenever"}, "keep_alive"),
    ({"model": "ai/one", "colour": "blue"}, "colour"),
])
def test_bad_configuration_is_refused_naming_the_setting(server: RunningServer, body: dict[str, object],
                                                         named: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post("/engines/_configure", json=body)
        assert response.status_code == 400, response.text
        assert named in response.json()["error"]["message"]
        assert http.get("/engines/_configure", params={"model": "ai/one"}).json()[0]["context-size"] is None


def test_configuring_a_busy_runner_is_a_conflict(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/one").status_code == 200
        with held_slot(http, server, "ai/one"):
            response = http.post("/engines/_configure", json={"model": "ai/one", "context-size": 512})
            assert response.status_code == 409
            assert "busy" in response.json()["error"]["message"]
        assert http.get("/engines/_configure", params={"model": "ai/one"}).json()[0]["context-size"] is None
        assert http.post("/engines/_configure", json={"model": "nope", "context-size": 512}).status_code == 404


def test_metrics_count_requests_tokens_and_runners(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = chat(http, "ai/one", stream=True, stream_options={"include_usage": True})
        assert answer.status_code == 200
        text = http.get("/metrics").text
    assert 'modelrunner_requests_total{model="ai/one",route="/engines/v1/chat/completions",status="200"} 1.0' in text
    assert 'modelrunner_tokens_total{kind="generated",model="ai/one"} 4.0' in text
    assert 'modelrunner_time_to_first_token_seconds_count{model="ai/one"} 1.0' in text
    assert 'modelrunner_model_load_seconds_count{model="ai/one:latest"} 1.0' in text
    assert 'modelrunner_runners{state="loaded"} 1.0' in text
    assert 'modelrunner_queue_depth{model="ai/one:latest"} 0.0' in text
    assert "modelrunner_runner_memory_bytes" in text and "modelrunner_memory_budget_bytes" in text


def test_metrics_label_only_models_that_exist(server: RunningServer) -> None:
    """2 000 names that are not found share one label: the exposition does not grow with them."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/one").status_code == 200
        before = len(http.get("/metrics").content)
        for number in range(2000):
            assert chat(http, f"ai/bogus-{number}").status_code == 404
        text = http.get("/metrics").text
    assert "bogus" not in text
    assert 'modelrunner_requests_total{model="unknown",route="/engines/v1/chat/completions",status="404"} 2000.0' in text
    assert 'model="ai/one"' in text
    assert len(text) < before + 8192


def test_logs_hold_server_and_worker_lines(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert chat(http, "ai/one").status_code == 200
        logs = http.get("/logs").text
        tail = http.get("/logs", params={"tail": 1, "worker": "false"}).text
    assert "loaded ai/one:latest" in logs
    assert "POST /engines/v1/chat/completions 200 model=ai/one" in logs
    assert any(line.startswith("[ai/one:latest] ") for line in logs.splitlines())
    assert len(tail.splitlines()) == 1
