"""The worker's llama.cpp server is reachable by its runner only: it listens on a Unix socket in a folder
only the runner's user may enter, never on a TCP port a web page could find by scanning the loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import psutil

from modelrunner.store.store import ModelStore
from tests.support.server import RunningServer


def _workers(server: RunningServer) -> list[psutil.Process]:
    assert server.process is not None
    return [child for child in psutil.Process(server.process.pid).children(recursive=True)
            if "modelrunner.engines.llamacpp.worker" in " ".join(child.cmdline())]


def test_the_worker_listens_on_a_private_unix_socket_and_no_tcp_port(tiny_store: ModelStore, tmp_path: Path) -> None:
    with RunningServer(tiny_store.root, tmp_path / "server.log") as server:
        answer = httpx.post(server.url + "/v1/chat/completions", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200
        [worker] = _workers(server)
        assert [c for c in worker.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN] == []
        [socket_path] = {c.laddr for c in worker.net_connections(kind="unix") if c.laddr}
        folder = Path(socket_path).parent
        assert folder.name.startswith("modelrunner-worker-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()  # the runner removes it when it stops the worker
