"""Request-path benchmark (issue 11): what modelrunner adds to each request on every API's route, against
llama.cpp's own server (xllamacpp, the same tiny model, slots and threads), with 8-token answers at 4
and 16 clients; and the server CPU a streamed Anthropic request with a 40 KB body (a Claude Code-sized
turn) costs from its body to `message_start`.

Rounds are interleaved (engine, then each route, in every round) so machine noise hits all alike; each
ratio is computed per round and reported as the median with its range.

Writes bench/results/request_path.json and request_path.md.

    .venv/bin/python bench/request_path.py [--rounds 5] [--requests-per-client 10]
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

from harness import DirectEngine, start_runner, write_results

from tests.conftest import make_tiny_store
from tests.support.tiny_model import write_tiny_llama_gguf

SLOTS = 4
CLIENT_COUNTS = (4, 16)
MAX_TOKENS = 8
ASK = [{"role": "user", "content": "Say hello."}]
# llama.cpp's server ties an HTTP thread to each kept-alive connection (see bench/lifecycle.py): the
# baseline closes each connection, as llama.cpp does for the streamed answers modelrunner asks of it.
ENGINE_HEADERS = {"connection": "close"}
BIG_BODY_BYTES = 40 * 1024
CONTEXT = 262144  # 4 slots of 64K tokens: room for the 40 KB conversation in the tiny tokenizer


def routes(runner_url: str, engine_url: str) -> dict[str, tuple[str, dict[str, Any], dict[str, str] | None]]:
    """name -> (url, body, headers): the bare engine, then modelrunner's route of each API."""
    openai_body = {"messages": ASK, "max_tokens": MAX_TOKENS, "temperature": 0}
    return {
        "engine": (engine_url + "/v1/chat/completions", openai_body, ENGINE_HEADERS),
        "openai": (runner_url + "/engines/v1/chat/completions", {"model": "ai/tiny", **openai_body}, None),
        "anthropic": (runner_url + "/v1/messages", {"model": "ai/tiny", "max_tokens": MAX_TOKENS,
                                                     "temperature": 0, "messages": ASK}, None),
        "ollama": (runner_url + "/api/chat", {"model": "ai/tiny", "messages": ASK, "stream": False,
                                              "options": {"num_predict": MAX_TOKENS, "temperature": 0}}, None),
    }


def cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


class Target:
    """One route under load, with one long-lived client so every round can reuse its connections."""

    def __init__(self, url: str, body: dict[str, Any], headers: dict[str, str] | None,
                 server: psutil.Process | None) -> None:
        self.url = url
        self.body = body
        self.server = server
        self.http = httpx.AsyncClient(timeout=None, trust_env=False, headers=headers,
                                      limits=httpx.Limits(max_connections=max(CLIENT_COUNTS)))

    async def client(self, requests: int, latencies: list[float]) -> None:
        for _ in range(requests):
            started = time.perf_counter()
            response = await self.http.post(self.url, json=self.body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async def round(self, clients: int, per_client: int) -> dict[str, float]:
        latencies: list[float] = []
        cpu_before = cpu_seconds(self.server)
        started = time.perf_counter()
        await asyncio.gather(*(self.client(per_client, latencies) for _ in range(clients)))
        window = time.perf_counter() - started
        requests = clients * per_client
        return {"requests_per_s": requests / window,
                "server_cpu_ms_per_request": (cpu_seconds(self.server) - cpu_before) * 1000 / requests,
                "latency_median_ms": statistics.median(latencies) * 1000}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def compare(targets: dict[str, Target], clients: int, per_client: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for target in targets.values():
        await target.client(SLOTS, [])  # warm: load, prompt cache, connections
    for _ in range(rounds):
        for name, target in targets.items():
            runs[name].append(await target.round(clients, per_client))
    engine = runs["engine"]
    result: dict[str, Any] = {"engine": {key: spread([run[key] for run in engine])
                                         for key in ("requests_per_s", "latency_median_ms")}}
    for name, per in runs.items():
        if name == "engine":
            continue
        result[name] = {
            "requests_per_s": spread([run["requests_per_s"] for run in per]),
            "throughput_ratio": spread([run["requests_per_s"] / base["requests_per_s"]
                                        for run, base in zip(per, engine)]),
            "added_median_latency_ms": spread([run["latency_median_ms"] - base["latency_median_ms"]
                                               for run, base in zip(per, engine)]),
            "server_cpu_ms_per_request": spread([run["server_cpu_ms_per_request"] for run in per]),
        }
    return result


def big_conversation() -> list[dict[str, Any]]:
    """About 40 KB of alternating turns, as a long agent conversation sends them each turn."""
    turns: list[dict[str, Any]] = []
    sentence = "The quick brown fox jumps over the lazy dog near the riverbank. "
    while sum(len(str(turn)) for turn in turns) < BIG_BODY_BYTES:
        turns.append({"role": "user", "content": sentence * 8})
        turns.append({"role": "assistant", "content": sentence * 4})
    return [*turns, {"role": "user", "content": "Summarise."}]


async def cpu_to_message_start(runner_url: str, server: psutil.Process, requests: int) -> dict[str, Any]:
    """Server CPU from sending a 40 KB streamed Messages body until its `message_start` arrives."""
    body = {"model": "ai/tiny", "max_tokens": MAX_TOKENS, "stream": True, "messages": big_conversation()}
    samples: list[float] = []
    async with httpx.AsyncClient(timeout=None, trust_env=False) as http:
        for position in range(requests + 1):
            before = cpu_seconds(server)
            async with http.stream("POST", runner_url + "/v1/messages", json=body) as response:
                response.raise_for_status()
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("event: message_start"):
                        break
                used = cpu_seconds(server) - before
                async for _ in lines:  # let the answer finish before the next sample
                    pass
            if position:  # the first request warms the prompt cache and the count
                samples.append(used * 1000)
    return {"body_bytes": len(httpx.Request("POST", "/", json=body).content), "requests": requests,
            "server_cpu_ms": spread(samples), "mean_ms": statistics.fmean(samples)}


async def measure(runner_url: str, engine_url: str, server: psutil.Process, per_client: int,
                  rounds: int, big_requests: int) -> dict[str, Any]:
    targets = {name: Target(url, body, headers, None if name == "engine" else server)
               for name, (url, body, headers) in routes(runner_url, engine_url).items()}
    try:
        results: dict[str, Any] = {f"clients_{clients}": await compare(targets, clients, per_client, rounds)
                                   for clients in CLIENT_COUNTS}
    finally:
        for target in targets.values():
            await target.http.aclose()
    results["anthropic_40kb_stream_to_message_start"] = await cpu_to_message_start(runner_url, server, big_requests)
    return results


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    rows = ["| clients | route | requests/s (engine) | ratio to engine | added median latency | server CPU / request |",
            "|---|---|---|---|---|---|"]
    for clients in CLIENT_COUNTS:
        run = results[f"clients_{clients}"]
        engine_rps = run["engine"]["requests_per_s"]["median"]
        for route in ("anthropic", "openai", "ollama"):
            r = run[route]
            rows.append(
                f"| {clients} | {route} | {r['requests_per_s']['median']:.1f} ({engine_rps:.1f}) | "
                f"{r['throughput_ratio']['median']:.2f} ({r['throughput_ratio']['min']:.2f}–"
                f"{r['throughput_ratio']['max']:.2f}) | {r['added_median_latency_ms']['median']:+.1f} ms "
                f"({r['added_median_latency_ms']['min']:+.1f}–{r['added_median_latency_ms']['max']:+.1f}) | "
                f"{r['server_cpu_ms_per_request']['median']:.2f} ms |")
    big = results["anthropic_40kb_stream_to_message_start"]
    cpu = big["server_cpu_ms"]
    rows.append(f"\nStreamed Anthropic request, {big['body_bytes'] // 1024} KB body: server CPU from body to "
                f"message_start {cpu['median']:.1f} ms median ({cpu['min']:.1f}–{cpu['max']:.1f}, "
                f"mean {big['mean_ms']:.1f}) over {big['requests']} requests.")
    return (f"Tiny model, {SLOTS} slots, {args.threads} threads, max_tokens {MAX_TOKENS}; {args.rounds} interleaved "
            f"rounds, each client sending {args.requests_per_client} requests; median (range) over rounds; "
            f"load average at start {results['load_average_at_start']:.1f}.\n\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests-per-client", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--big-requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gguf = write_tiny_llama_gguf(tmp / "tiny.gguf", context_length=CONTEXT)
        store = make_tiny_store(tmp / "tiny-store", gguf).root
        load = psutil.getloadavg()[0]
        engine = DirectEngine(gguf, context_size=CONTEXT, slots=SLOTS, threads=args.threads)
        runner = start_runner(store, tmp / "runner.log", threads=args.threads, context_size=CONTEXT,
                              import_default=False)
        try:
            assert runner.process is not None
            results = asyncio.run(measure(runner.url, engine.url, psutil.Process(runner.process.pid),
                                          args.requests_per_client, args.rounds, args.big_requests))
        finally:
            runner.stop()
            engine.stop()
    results = {"load_average_at_start": load, "slots": SLOTS, "threads": args.threads, **results}
    write_results("request_path", results, table(results, args))


if __name__ == "__main__":
    main()
