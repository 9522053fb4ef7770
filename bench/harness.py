"""Shared benchmark plumbing: start modelrunner and the bare engine on the same model (the tiny random one
or the default), measure streamed generations (OpenAI SSE, Anthropic events) with wall-clock timestamps
per token, put clients' load on a route, and write results with the machine's load beside them.
Interleaved rounds and their statistics are in `rounds.py`."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import TINY_MODEL, make_tiny_store  # noqa: E402
from tests.support.server import RunningServer  # noqa: E402
from tests.support.tiny_model import write_tiny_llama_gguf  # noqa: E402


@dataclass
class StreamTiming:
    started: float
    first_token: float | None
    finished: float
    tokens: int

    @property
    def ttft_s(self) -> float:
        return (self.first_token or self.finished) - self.started


class DirectEngine:
    """The same llama.cpp server modelrunner's worker hosts, started by hand: the baseline."""

    def __init__(self, model_path: Path, *, context_size: int, slots: int, threads: int, **worker: Any) -> None:
        """`worker`: further worker settings (an embedding engine's mode and pooling)."""
        config = {"model_path": str(model_path), "context_size": context_size, "parallel_slots": slots,
                  "threads": threads, **worker}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelrunner.engines.llamacpp.worker", json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        event = json.loads(self.process.stdout.readline())
        if event.get("event") != "ready":
            raise RuntimeError(f"engine failed to start: {event}")
        self.url = event["url"]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


class RelayFloor:
    """`relay_floor.py` in a process of its own, relaying to a bare engine (its CPU measured apart)."""

    def __init__(self, engine_url: str, slots: int) -> None:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("relay_floor.py")),
                                         engine_url, str(slots)], stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def tiny_store(root: Path, **gguf_options: Any) -> tuple[Path, str]:
    """A store at `root/store` holding the tiny random model: (store path, model name). The GGUF stays at
    `root/tiny.gguf`, for a bare engine on the same file."""
    root.mkdir(parents=True, exist_ok=True)
    gguf = write_tiny_llama_gguf(root / "tiny.gguf", **gguf_options)
    return make_tiny_store(root / "store", gguf).root, TINY_MODEL


def start_runner(store: Path, log: Path, *, threads: int, context_size: int, import_default: bool,
                 src: Path | None = None) -> RunningServer:
    """`src`: another checkout's `src` folder to run instead of this one (a baseline beside this code)."""
    env = {"MODEL_RUNNER_THREADS": str(threads), "MODEL_RUNNER_CONTEXT_SIZE": str(context_size),
           "MODEL_RUNNER_NO_DEFAULT_MODEL": "0" if import_default else "1", "MODEL_RUNNER_LOG_LEVEL": "WARNING"}
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    return RunningServer(store, log, env=env).start(timeout_s=120)


async def stream_openai(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> StreamTiming:
    """Time one streamed chat completion; `tokens` counts content deltas (one per token)."""
    started = time.perf_counter()
    first = None
    tokens = 0
    async with http.stream("POST", url, json={**body, "stream": True}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    tokens += 1
                    if first is None:
                        first = time.perf_counter()
    return StreamTiming(started=started, first_token=first, finished=time.perf_counter(), tokens=tokens)


async def stream_anthropic(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[StreamTiming, float]:
    """Time one streamed Message: (token timing, seconds to message_start). Tokens are the final
    usage's output_tokens (a text event may carry several, as a remote relay sends them), else the
    text deltas counted."""
    started = time.perf_counter()
    message_start = first = None
    deltas = 0
    usage_tokens: int | None = None
    async with http.stream("POST", url, json={**body, "stream": True}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line == "event: message_start":
                message_start = time.perf_counter()
            elif line.startswith("data: ") and '"text_delta"' in line:
                deltas += 1
                if first is None:
                    first = time.perf_counter()
            elif line.startswith("data: ") and '"message_delta"' in line:
                usage_tokens = json.loads(line[6:])["usage"]["output_tokens"]
    finished = time.perf_counter()
    tokens = deltas if usage_tokens is None else usage_tokens
    return StreamTiming(started, first, finished, tokens), (message_start or finished) - started


def cpu_seconds(process: psutil.Process | None) -> float:
    """User + system CPU time a process has used (0 for none: the bare engine is not measured)."""
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


class LoadTarget:
    """One route under load from clients sending requests back to back, with one long-lived HTTP client so
    that every round reuses its connections; `server` is the process whose CPU per request is measured."""

    def __init__(self, url: str, body: dict[str, Any], *, headers: dict[str, str] | None = None,
                 server: psutil.Process | None = None, max_clients: int = 16) -> None:
        self.url = url
        self.body = body
        self.server = server
        self.http = httpx.AsyncClient(timeout=None, trust_env=False, headers=headers,
                                      limits=httpx.Limits(max_connections=max_clients))

    async def client(self, requests: int, latencies: list[float]) -> None:
        for _ in range(requests):
            started = time.perf_counter()
            response = await self.http.post(self.url, json=self.body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async def round(self, clients: int, per_client: int) -> dict[str, float]:
        """Requests/s with `clients` clients each sending `per_client` requests, the server's CPU per
        request, and the latency median and 95th percentile."""
        latencies: list[float] = []
        cpu_before = cpu_seconds(self.server)
        started = time.perf_counter()
        await asyncio.gather(*(self.client(per_client, latencies) for _ in range(clients)))
        window = time.perf_counter() - started
        requests = clients * per_client
        return {"requests_per_s": requests / window,
                "server_cpu_ms_per_request": (cpu_seconds(self.server) - cpu_before) * 1000 / requests,
                "latency_median_ms": statistics.median(latencies) * 1000,
                "latency_p95_ms": sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000}

    async def aclose(self) -> None:
        await self.http.aclose()


async def decode_rate(http: httpx.AsyncClient, url: str, body: dict[str, Any], concurrency: int,
                      rounds: int) -> dict[str, float]:
    """Aggregate decode tokens/s with `concurrency` simultaneous streams, over `rounds` rounds."""
    total_tokens, total_window = 0, 0.0
    ttfts: list[float] = []
    for _ in range(rounds):
        timings = await asyncio.gather(*(stream_openai(http, url, body) for _ in range(concurrency)))
        first = min(t.first_token or t.finished for t in timings)
        last = max(t.finished for t in timings)
        total_tokens += sum(max(t.tokens - 1, 0) for t in timings)
        total_window += last - first
        ttfts.extend(t.ttft_s for t in timings)
    return {
        "tokens_per_s": total_tokens / total_window if total_window else 0.0,
        "ttft_median_ms": statistics.median(ttfts) * 1000,
        "tokens": total_tokens,
    }


def machine_load() -> list[float]:
    """`uptime`'s load averages (1, 5, 15 min), recorded beside results: the machine is shared."""
    return [round(load, 2) for load in os.getloadavg()]


def write_results(name: str, results: dict[str, Any], table: str) -> None:
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "load_average_1_5_15_min": machine_load()},
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **results}
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{name}.md").write_text(table + "\n")
    print(table)
