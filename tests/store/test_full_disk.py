"""A store on a real, small disk (a tmpfs mounted for the test) that fills up: every write answers 507
with what it needed and what is free and leaves the store as it was, a pull that fills the disk removes
its partial files, and models already stored or loaded keep answering."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.counting_proxy import CountingProxy
from tests.support.distribution import distribution_on, push, random_model_store
from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf

DISK_BYTES = 8 * 1024 * 1024
PULLED_BYTES = 2 * 1000 * 1000
TIMEOUT_S = 60.0
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the full-disk test needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; removing it gives the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (64 * 1024, 4096, 512, 1):  # down to the last partial page
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def store_files(store: Path) -> dict[str, int]:
    return {str(path.relative_to(store)): path.stat().st_size for path in store.rglob("*")
            if path.is_file() and not path.name.endswith(".lock")}


def assert_no_space(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    message = response.json()["error"]["message"]
    assert "no space left on device: needs" in message and ", free " in message, message
    assert response.headers["request-id"].startswith("req_")


def chat(http: httpx.Client, model: str) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": model, "messages": HELLO, "max_tokens": 3})


def test_a_full_disk_is_a_507_that_changes_nothing_and_models_keep_answering(
        small_disk: Path, tmp_path: Path, tiny_gguf: Path, registry: RegistryProcess) -> None:
    second_gguf = write_tiny_llama_gguf(tmp_path / "second.gguf", seed=9)
    third_gguf = write_tiny_llama_gguf(tmp_path / "third.gguf", seed=10)
    name = f"{registry.host}/full-disk/random:v1"
    source, digest = random_model_store(tmp_path / "source", name, PULLED_BYTES)
    assert push(distribution_on(source.root), name)[-1]["type"] == "success"
    store = small_disk / "store"
    partial = store / "blobs" / "sha256" / f"{digest.removeprefix('sha256:')}.incomplete"
    env = {"MODEL_RUNNER_REGISTRY_ATTEMPTS": "3", "DOCKER_CONFIG": str(tmp_path / "docker"),
           "MODEL_RUNNER_PACKAGE_DIRS": f"{tmp_path}:{tiny_gguf.parent}"}  # the test packages by path

    with CountingProxy(registry.url) as proxy, RunningServer(store, tmp_path / "server.log", env=env) as runner, \
            httpx.Client(base_url=runner.url, timeout=TIMEOUT_S) as http:
        for gguf, tag in ((tiny_gguf, "ai/loaded"), (second_gguf, "ai/stored")):
            packaged = http.post("/models/package", json={"gguf": str(gguf), "tag": tag})
            assert orjson.loads(packaged.text.splitlines()[-1])["type"] == "success", packaged.text
        archive = http.get("/models/ai/stored/export").content
        assert chat(http, "ai/loaded").status_code == 200

        # A pull that fills the disk halfway through its blob stops and removes its partial file.
        proxy.faults.stall_digest, proxy.faults.stall_after_bytes = digest, PULLED_BYTES // 4
        answer: dict[str, httpx.Response] = {}
        pulling = threading.Thread(target=lambda: answer.setdefault("pull", http.post(
            "/models/create", json={"from": name.replace(registry.host, proxy.host, 1)})))
        pulling.start()
        assert proxy.stalled.wait(TIMEOUT_S), "the proxy never stalled the blob"
        filler = fill(small_disk)
        proxy.release()
        pulling.join(TIMEOUT_S)
        assert not pulling.is_alive(), "the pull did not end on a full disk"
        last = orjson.loads(answer["pull"].text.strip().splitlines()[-1])
        assert last["type"] == "error" and "no space left on device: needs" in last["message"], last
        assert "partial download was removed" in last["message"], last
        assert not partial.exists()
        assert not any(path.name.endswith(".incomplete") for path in store.rglob("*"))

        # Every write now answers 507 and leaves the store as it was.
        fill(small_disk)  # again: the removed partial file gave its space back
        before = store_files(store)
        assert_no_space(http.post("/models/create", json={"from": name}))
        assert_no_space(http.post("/models/package", json={"gguf": str(third_gguf), "tag": "ai/third"}))
        assert_no_space(http.post("/models/ai/loaded/tag", params={"repo": "ai/renamed"}))
        assert_no_space(http.post("/engines/_configure", json={"model": "ai/loaded", "context-size": 1024}))
        assert_no_space(http.post("/models/load", params={"tag": "ai/imported"}, content=archive))
        assert store_files(store) == before
        assert "ai/renamed:latest" not in {t for m in http.get("/models").json() for t in m["tags"]}

        # Inference goes on: on the loaded model, and on a stored one loaded now.
        assert chat(http, "ai/loaded").status_code == 200
        assert chat(http, "ai/stored").status_code == 200

        # With room again, everything that was refused works.
        filler.unlink()
        assert http.post("/models/ai/loaded/tag", params={"repo": "ai/renamed"}).status_code == 201
        assert http.post("/engines/_configure", json={"model": "ai/loaded", "context-size": 1024}).status_code == 202
    assert "Traceback" not in (tmp_path / "server.log").read_text()
    assert os.path.ismount(small_disk)
