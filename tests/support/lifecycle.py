"""Helpers for runner lifecycle tests: stores with several distinct tiny models, servers with small
budgets, worker PIDs, and a way to hold a runner slot for as long as a test needs it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from modelrunner.core.references import parse_reference
from modelrunner.engines.llamacpp.engine import LlamaCppEngine
from modelrunner.scheduler.memory import describe_model
from modelrunner.scheduler.model_config import ModelSettings
from modelrunner.scheduler.runner_slot import runner_config
from modelrunner.settings import Settings
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.server import RunningServer

WORKER_MODULE = "modelrunner.engines.llamacpp.worker"
SERVER_CONTEXT_SIZE = 2048


def store_with_models(root: Path, gguf: Path, names: list[str]) -> ModelStore:
    """The tiny GGUF packaged once per name, each a distinct model (its config differs by date)."""
    store = ModelStore(root)
    for day, name in enumerate(names, start=1):
        spec = PackageSpec(gguf_paths=[gguf], created=datetime(2024, 1, day, tzinfo=timezone.utc))
        package_gguf(store, spec, [parse_reference(name)])
    return store


def estimated_bytes(store: ModelStore, name: str, *, parallel_slots: int) -> int:
    """What the scheduler will estimate for `name` under the test servers' settings."""
    defaults = Settings(context_size_cap=SERVER_CONTEXT_SIZE, parallel_slots=parallel_slots, threads=1)
    model = store.find(name)
    engine = LlamaCppEngine(load_timeout_s=defaults.load_timeout_s)
    config = runner_config(model, ModelSettings(), defaults, engine)
    return engine.estimate_memory(describe_model(model), config).total_bytes


def start_server(store: Path, log: Path, **env: str) -> RunningServer:
    return RunningServer(store, log, env=env).start()


def workers_of(server: RunningServer) -> list[psutil.Process]:
    """The server's live worker processes (a worker that just exited is not one)."""
    assert server.process is not None
    workers = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if WORKER_MODULE in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                workers.append(child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return workers


def chat(http: httpx.Client, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4, **extra}
    return http.post("/engines/v1/chat/completions", json=body)


def running(http: httpx.Client) -> dict[str, dict[str, Any]]:
    return {entry["model_name"]: entry for entry in http.get("/engines/ps").json()}


def wait_until(condition: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll `condition`; the timeout only bounds a broken run, it is not what the test measures."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def paused_workers(server: RunningServer) -> Iterator[list[int]]:
    """Stop (SIGSTOP) the server's workers for the block: requests they hold stay in flight."""
    pids = [worker.pid for worker in workers_of(server)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


class RawRequest:
    """A JSON POST over a plain socket, so that a test can hang up at the moment it chooses."""

    def __init__(self, server: RunningServer, path: str, body: dict[str, Any]) -> None:
        payload = orjson.dumps(body)
        self.socket = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        self.socket.sendall(head.encode() + payload)
        self.received = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before {marker!r}: {self.received[-500:]!r}")
            self.received += chunk
        return self.received

    def hang_up(self) -> None:
        self.socket.close()


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "go"}], "max_tokens": 100000, **extra}


@contextlib.contextmanager
def held_slot(http: httpx.Client, server: RunningServer, model: str) -> Iterator[RawRequest]:
    """A request that holds one of `model`'s slots for the block: it is admitted, then its worker is
    paused before it can answer. The request is hung up when the block ends, and its slot given back."""
    label = f"{model}:latest"
    before = running(http)[label]["active_requests"]
    with paused_workers(server):
        holder = RawRequest(server, "/engines/v1/chat/completions", chat_body(model))
        try:
            wait_until(lambda: running(http)[label]["active_requests"] == before + 1, what="the request to start")
            yield holder
        finally:
            holder.hang_up()
    wait_until(lambda: running(http).get(label, {}).get("active_requests", 0) <= before,
               what="the held slot to be given back")
