"""Start `modelrunner serve` in the background when a command needs a runner and none answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from modelrunner.cli.client import RunnerClient
from modelrunner.cli.output import note, waiting
from modelrunner.core.errors import RunnerUnreachable
from modelrunner.settings import Settings

READY_TIMEOUT_S = 120.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def server_log_path(settings: Settings) -> Path:
    """Beside the store, so each store (and each test) keeps its own background server's log."""
    return settings.store_path.parent / "modelrunner-serve.log"


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_background_server(settings: Settings) -> subprocess.Popen[bytes]:
    address = urlsplit(settings.runner_host)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    log_path = server_log_path(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "modelrunner", "serve", "--host", host, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the chat must not reach the server
        )


def wait_until_ready(client: RunnerClient, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if client.is_running():
            return
        if process.poll() is not None:
            raise RunnerUnreachable(
                f"the background runner exited with status {process.returncode}: {_last_line(log_path)}")
        time.sleep(0.1)
    raise RunnerUnreachable(f"the background runner did not answer within {READY_TIMEOUT_S:.0f}s (log: {log_path})")


def ensure_runner(settings: Settings, client: RunnerClient) -> None:
    """Return once a runner answers at `settings.runner_host`, starting one on loopback if allowed."""
    if client.is_running():
        return
    host = urlsplit(settings.runner_host).hostname
    if not settings.autostart:
        raise RunnerUnreachable(f"no runner answers at {settings.runner_host}; start one with `modelrunner serve`")
    if host not in LOOPBACK_HOSTS:
        raise RunnerUnreachable(f"no runner answers at {settings.runner_host}")
    process = start_background_server(settings)
    note(f"No runner at {settings.runner_host}: started `modelrunner serve` in the background "
         f"(pid {process.pid}, log {server_log_path(settings)}).")
    with waiting("Starting the runner..."):
        wait_until_ready(client, process, server_log_path(settings))
