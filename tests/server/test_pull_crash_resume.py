"""A server killed (SIGKILL) in the middle of a pull: nothing looks complete afterwards, and the next
pull, by a new server on the same store, resumes the blob from its `.incomplete` file with HTTP Range
instead of downloading it again."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tests.support.counting_proxy import CountingProxy
from tests.support.distribution import distribution_on, push, random_model_store
from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer

BLOB_BYTES = 12 * 1000 * 1000
STALL_AFTER_BYTES = 10 * 1000 * 1000


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_killed_server_resumes_the_blob_after_restart(tmp_path: Path) -> None:
    with RegistryProcess(tmp_path / "registry") as registry, CountingProxy(registry.url) as proxy:
        name = f"{registry.host}/crash/big:v1"
        source, digest = random_model_store(tmp_path / "source", name, BLOB_BYTES)
        assert push(distribution_on(source.root), name)[-1]["type"] == "success"
        through_proxy = name.replace(registry.host, proxy.host, 1)
        store = tmp_path / "store"
        partial = store / "blobs" / "sha256" / f"{digest.removeprefix('sha256:')}.incomplete"

        proxy.faults.stall_digest, proxy.faults.stall_after_bytes = digest, STALL_AFTER_BYTES
        first = RunningServer(store, tmp_path / "first.log").start()
        try:
            with httpx.Client(base_url=first.url, timeout=None) as http:
                with http.stream("POST", "/models/create", json={"from": through_proxy}) as response:
                    assert response.status_code == 200
                    _wait_for(proxy.stalled.is_set, "the proxy to stall mid-blob")
                    _wait_for(lambda: partial.exists() and partial.stat().st_size >= 4 * 1000 * 1000,
                              "part of the blob on disk")
                    assert first.process is not None
                    first.process.send_signal(signal.SIGKILL)
                    first.process.wait()
        except httpx.TransportError:
            pass
        finally:
            first.stop()
        on_disk = partial.stat().st_size
        assert 0 < on_disk < BLOB_BYTES
        index = store / "models.json"
        assert not index.exists() or orjson.loads(index.read_bytes())["models"] == []

        proxy.reset()
        with RunningServer(store, tmp_path / "second.log") as second, \
                httpx.Client(base_url=second.url, timeout=None) as http:
            answer = http.post("/models/create", json={"from": through_proxy})
            lines = [orjson.loads(line) for line in answer.text.splitlines()]
            assert lines[-1]["type"] == "success", lines
            assert http.get(f"/models/{through_proxy}").json()["id"] == source.find(name).id
        assert proxy.record.ranges == [f"bytes={on_disk}-"]
        transferred = sum(n for path, n in proxy.record.blob_bytes.items() if digest in path)
        assert transferred == BLOB_BYTES - on_disk < BLOB_BYTES
        assert not partial.exists()
