"""Message Batches benchmark: a batch of N requests against the same requests sent by a client at its
best concurrency (throughput, requests/s from the first request to the last result), and the time to
first token of an interactive streamed request while a big batch runs against idle. Rounds interleaved
in one run; medians with their spread.

Targets (issue 15): batch throughput >= 0.95 of the client's at its best concurrency; interactive
time to first token during a batch <= 1.5x idle. Writes bench/results/batches.json and batches.md.

    .venv/bin/python bench/batches.py [--requests 1000] [--rounds 3] [--model tiny|default]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness import start_runner, write_results

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.tiny_model import write_tiny_llama_gguf

PROMPTS = ["Tell me about the sea.", "Name a colour.", "Write one line about trees.", "Say something kind."]
CONCURRENCIES = (1, 2, 4, 8, 16)
TTFT_SAMPLES = 8


def bodies(model: str, count: int, max_tokens: int) -> list[dict[str, Any]]:
    return [{"model": model, "max_tokens": max_tokens, "temperature": 0,
             "messages": [{"role": "user", "content": f"{PROMPTS[n % len(PROMPTS)]} ({n})"}]}
            for n in range(count)]


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def client_rate(http: httpx.AsyncClient, url: str, requests: list[dict[str, Any]], concurrency: int) -> float:
    """Requests/s sending `requests` with at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            (await http.post(url + "/v1/messages", json=body)).raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in requests))
    return len(requests) / (time.perf_counter() - started)


async def run_batch(http: httpx.AsyncClient, url: str, requests: list[dict[str, Any]]) -> float:
    """Requests/s of one batch, from the server's created_at to its ended_at."""
    created = (await http.post(url + "/v1/messages/batches", json={
        "requests": [{"custom_id": f"r{n}", "params": body} for n, body in enumerate(requests)]})).json()
    while True:
        batch = (await http.get(f"{url}/v1/messages/batches/{created['id']}")).json()
        if batch["processing_status"] == "ended":
            break
        await asyncio.sleep(0.1)
    assert batch["request_counts"]["succeeded"] == len(requests), batch["request_counts"]
    return len(requests) / (_seconds(batch["ended_at"]) - _seconds(batch["created_at"]))


async def time_to_first_token(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    async with http.stream("POST", url + "/v1/messages", json={**body, "stream": True}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"text_delta"' in line:
                return time.perf_counter() - started
    raise AssertionError("no text in the interactive answer")


async def ttft_samples(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> list[float]:
    samples = []
    for _ in range(TTFT_SAMPLES):
        samples.append(await time_to_first_token(http, url, body))
        await asyncio.sleep(0.05)
    return samples


async def ttft_during_batch(http: httpx.AsyncClient, url: str, model: str, body: dict[str, Any]) -> list[float]:
    """Interactive samples while a batch keeps every slot busy; the batch is canceled afterwards."""
    batch = bodies(model, 1000, 256)
    created = (await http.post(url + "/v1/messages/batches", json={
        "requests": [{"custom_id": f"b{n}", "params": p} for n, p in enumerate(batch)]})).json()
    while (await http.get(f"{url}/v1/messages/batches/{created['id']}")).json()["request_counts"]["succeeded"] < 2:
        await asyncio.sleep(0.1)
    samples = await ttft_samples(http, url, body)
    await http.post(f"{url}/v1/messages/batches/{created['id']}/cancel")
    while (await http.get(f"{url}/v1/messages/batches/{created['id']}")).json()["processing_status"] != "ended":
        await asyncio.sleep(0.1)
    return samples


def spread(values: list[float]) -> str:
    return f"{min(values):.3g}-{max(values):.3g}"


async def measure(url: str, model: str, *, count: int, rounds: int, max_tokens: int) -> dict[str, Any]:
    requests = bodies(model, count, max_tokens)
    async with httpx.AsyncClient(timeout=600) as http:
        await client_rate(http, url, requests[:8], 4)  # load the model, warm the prompt cache
        probe = requests[: max(50, count // 5)]
        by_concurrency = {c: await client_rate(http, url, probe, c) for c in CONCURRENCIES}
        best = max(by_concurrency, key=lambda c: by_concurrency[c])
        client_rates, batch_rates = [], []
        for _ in range(rounds):
            client_rates.append(await client_rate(http, url, requests, best))
            batch_rates.append(await run_batch(http, url, requests))
        interactive = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "Hello there"}]}
        idle, busy = [], []
        for _ in range(rounds):
            idle += await ttft_samples(http, url, interactive)
            busy += await ttft_during_batch(http, url, model, interactive)
    ratios = [b / c for b, c in zip(batch_rates, client_rates)]
    return {
        "requests": count, "max_tokens": max_tokens, "rounds": rounds,
        "client_rate_by_concurrency": by_concurrency, "best_concurrency": best,
        "client_requests_per_s": client_rates, "batch_requests_per_s": batch_rates,
        "throughput_ratio": statistics.median(ratios), "throughput_ratios": ratios,
        "ttft_idle_s": idle, "ttft_during_batch_s": busy,
        "ttft_ratio": statistics.median(busy) / statistics.median(idle),
    }


def tiny_store(root: Path) -> tuple[Path, str]:
    gguf = write_tiny_llama_gguf(root / "tiny.gguf")
    package_gguf(ModelStore(root / "store"), PackageSpec(gguf_paths=[gguf]), [parse_reference("ai/tiny")])
    return root / "store", "ai/tiny"


def table(results: dict[str, Any], model: str) -> str:
    r = results
    return "\n".join([
        f"{model}, {r['requests']} requests of max_tokens {r['max_tokens']}, {r['rounds']} rounds interleaved",
        "",
        "| measure | value | spread | target |",
        "|---|---|---|---|",
        f"| client at best concurrency ({r['best_concurrency']}), requests/s | "
        f"{statistics.median(r['client_requests_per_s']):.1f} | {spread(r['client_requests_per_s'])} | |",
        f"| batch, requests/s | {statistics.median(r['batch_requests_per_s']):.1f} | "
        f"{spread(r['batch_requests_per_s'])} | |",
        f"| batch / client throughput | {r['throughput_ratio']:.3f} | {spread(r['throughput_ratios'])} | >= 0.95 |",
        f"| interactive TTFT idle, ms (median) | {1000 * statistics.median(r['ttft_idle_s']):.1f} | "
        f"{spread([1000 * s for s in r['ttft_idle_s']])} | |",
        f"| interactive TTFT during a batch, ms (median) | {1000 * statistics.median(r['ttft_during_batch_s']):.1f} | "
        f"{spread([1000 * s for s in r['ttft_during_batch_s']])} | |",
        f"| TTFT during batch / idle | {r['ttft_ratio']:.2f} | | <= 1.5 |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--model", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        if args.model == "tiny":
            store, model = tiny_store(root)
        else:
            store, model = root / "store", "ai/smollm2"
        runner = start_runner(store, root / "runner.log", threads=args.threads, context_size=2048,
                              import_default=args.model == "default")
        try:
            results = asyncio.run(measure(runner.url, model, count=args.requests, rounds=args.rounds,
                                          max_tokens=args.max_tokens))
        finally:
            runner.stop()
    write_results("batches", {"model": model, **results}, table(results, model))


if __name__ == "__main__":
    main()
