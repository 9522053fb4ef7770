"""Soak: mixed traffic on every API for a while, with the server's and the worker's resident memory
sampled, to show memory flat after warm-up (issue 17: a worker grew from 870 to 2 472 MiB in 10 minutes
before llama.cpp's host prompt cache was sized from the budget).

Traffic, `--clients` at a time: Anthropic (streamed and not), OpenAI chat, Ollama chat, count_tokens and
bad requests, each with a fresh random prefix so that the prompt cache keeps receiving new prompts.
Samples every `--sample-s` seconds: the server's RSS (psutil) and each worker's measured RSS from
`/engines/ps`. The slope (MiB per minute) is a least-squares fit over the samples after `--warmup-min`.
Not part of the test suite. Writes bench/results/soak.json and soak.md.

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup-min 2] [--clients 4] [--tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import start_runner, write_results

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.tiny_model import write_tiny_llama_gguf

DEFAULT_MODEL = "ai/smollm2:135M-Q4_1"
MIB = 1024 * 1024
WORDS = "lighthouse keeper map storm harbor lantern tide gull rope compass island fog".split()


def prompt() -> str:
    """A prompt with a new random prefix, about a hundred tokens long."""
    body = " ".join(secrets.choice(WORDS) for _ in range(60))
    return f"[{secrets.token_hex(8)}] Summarise this log: {body}"


def requests_for(model: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(path, body, streamed) for one round of mixed traffic."""
    text = prompt()
    messages = [{"role": "user", "content": text}]
    return [
        ("/v1/messages", {"model": model, "max_tokens": 48, "messages": messages, "stream": True}, True),
        ("/v1/messages", {"model": model, "max_tokens": 24, "messages": messages}, False),
        ("/v1/chat/completions", {"model": model, "max_tokens": 48, "messages": messages, "stream": True}, True),
        ("/api/chat", {"model": model, "messages": messages, "stream": False, "options": {"num_predict": 24}},
         False),
        ("/v1/messages/count_tokens", {"model": model, "messages": messages}, False),
        ("/v1/messages", {"model": model, "max_tokens": "x", "messages": messages}, False),  # a 400
    ]


async def client_loop(http: httpx.AsyncClient, model: str, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        for path, body, streamed in requests_for(model):
            try:
                if streamed:
                    async with http.stream("POST", path, json=body) as response:
                        async for _ in response.aiter_bytes():
                            pass
                else:
                    response = await http.post(path, json=body)
                counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as exc:
                counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1


async def sampler(http: httpx.AsyncClient, server_pid: int, started: float, until: float, every_s: float,
                  samples: list[dict[str, Any]]) -> None:
    server = psutil.Process(server_pid)
    while time.monotonic() < until:
        runners = (await http.get("/engines/ps")).json()
        worker = sum(r["memory"].get("resident") or 0 for r in runners)
        estimate = sum(r["memory"]["total"] for r in runners)
        samples.append({"minute": round((time.monotonic() - started) / 60, 3),
                        "server_mib": round(server.memory_info().rss / MIB, 1),
                        "worker_mib": round(worker / MIB, 1), "estimate_mib": round(estimate / MIB, 1)})
        await asyncio.sleep(every_s)


def slope_per_minute(samples: list[dict[str, Any]], key: str, after_min: float) -> float | None:
    points = [(s["minute"], s[key]) for s in samples if s["minute"] >= after_min and s[key]]
    if len(points) < 3:
        return None
    return round(statistics.linear_regression([m for m, _ in points], [v for _, v in points]).slope, 2)


async def soak(url: str, server_pid: int, model: str, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        assert (await http.post("/v1/messages", json={"model": model, "max_tokens": 4, "messages": [
            {"role": "user", "content": "hi"}]})).status_code == 200
        started = time.monotonic()
        until = started + args.minutes * 60
        counts: dict[str, int] = {}
        samples: list[dict[str, Any]] = []
        await asyncio.gather(sampler(http, server_pid, started, until, args.sample_s, samples),
                             *(client_loop(http, model, until, counts) for _ in range(args.clients)))
    return {"counts": counts, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-min", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--tiny", action="store_true", help="the tiny random model instead of SmolLM2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if args.tiny:
            store = ModelStore(root / "store")
            package_gguf(store, PackageSpec(gguf_paths=[write_tiny_llama_gguf(root / "tiny.gguf")]),
                         [parse_reference("ai/tiny")])
            model = "ai/tiny"
        else:
            model = DEFAULT_MODEL
        runner = start_runner(root / "store", root / "server.log", threads=2, context_size=4096,
                              import_default=not args.tiny)
        try:
            assert runner.process is not None
            measured = asyncio.run(soak(runner.url, runner.process.pid, model, args))
        finally:
            runner.stop()
    samples = measured["samples"]
    after = [s for s in samples if s["minute"] >= args.warmup_min]
    results = {
        "model": model, "minutes": args.minutes, "warmup_minutes": args.warmup_min, "clients": args.clients,
        "requests_by_status": measured["counts"],
        "worker_mib_per_minute_after_warmup": slope_per_minute(samples, "worker_mib", args.warmup_min),
        "server_mib_per_minute_after_warmup": slope_per_minute(samples, "server_mib", args.warmup_min),
        "worker_mib": {"first": samples[0]["worker_mib"] if samples else None,
                       "at_warmup_end": after[0]["worker_mib"] if after else None,
                       "last": samples[-1]["worker_mib"] if samples else None},
        "estimate_mib": samples[-1]["estimate_mib"] if samples else None,
        "samples": samples,
    }
    table = "\n".join([
        f"# Soak: {args.minutes:g} min of mixed traffic on {model}, {args.clients} clients",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests by status | {measured['counts']} |",
        f"| worker RSS first / after warm-up / last (MiB) | {results['worker_mib']['first']} / "
        f"{results['worker_mib']['at_warmup_end']} / {results['worker_mib']['last']} |",
        f"| worker RSS slope after {args.warmup_min:g} min (MiB/min) | {results['worker_mib_per_minute_after_warmup']} |",
        f"| server RSS slope after {args.warmup_min:g} min (MiB/min) | {results['server_mib_per_minute_after_warmup']} |",
        f"| runner estimate (MiB) | {results['estimate_mib']} |",
    ])
    write_results("soak", results, table)


if __name__ == "__main__":
    main()
