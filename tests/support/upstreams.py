"""Real OpenAI-compatible upstreams for the remote engine's tests: llama.cpp's own server (through
xllamacpp, the tiny model, one thread) on a fixed loopback port, so a replica killed with SIGKILL can
come back at the same URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port


class LlamaCppServer:
    """A bare llama.cpp server process: the worker modelrunner itself runs, started on its own."""

    def __init__(self, gguf: Path, *, slots: int = 2, context_size: int = 2048) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._config = {
            "model_path": str(gguf), "context_size": context_size, "parallel_slots": slots, "threads": 1,
            "runtime_settings": {"port": self.port},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> LlamaCppServer:
        if self.is_running:
            return self
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelrunner.engines.llamacpp.worker", json.dumps(self._config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        announced = json.loads(self.process.stdout.readline() or b"{}")
        if announced.get("event") != "ready":
            self.kill()
            raise RuntimeError(f"llama.cpp server did not start: {announced}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("llama.cpp server did not answer /v1/models")

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def model_id(self) -> str:
        return httpx.get(self.url + "/models", timeout=5.0).json()["data"][0]["id"]

    def kill(self) -> None:
        """SIGKILL, as a crashed GPU box would go: no goodbye on any socket."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the worker lives until its stdin closes
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
