"""Run a real `modelrunner serve` in a subprocess for tests, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    """A modelrunner server process. Its log is kept in a file for assertions and post-mortems."""

    def __init__(self, store: Path, log_path: Path, env: dict[str, str] | None = None,
                 ready_headers: dict[str, str] | None = None) -> None:
        self.store = store
        self.ready_headers = ready_headers or {}  # a runner with an API key answers `GET /` only with it
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "MODELS_PATH": str(store),
            "MODEL_RUNNER_PORT": str(self.port),
            "MODEL_RUNNER_NO_DEFAULT_MODEL": "1",
            "MODEL_RUNNER_THREADS": "1",
            "MODEL_RUNNER_CONTEXT_SIZE": "2048",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> RunningServer:
        if self.process is not None and self.process.poll() is None:
            return self  # already running: entering a `with` block on a started server must not start another
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelrunner", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/", headers=self.ready_headers, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
