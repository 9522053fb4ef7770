"""Request-path benchmark (issue 11): what modelrunner adds to each request on every API's route, against
llama.cpp's own server (xllamacpp, the same tiny model, slots and threads), with 8-token answers at 4
and 16 clients; and the server CPU a streamed Anthropic request with a 40 KB body (a Claude Code-sized
turn) costs from its body to `message_start`.

Rounds are interleaved (engine, then each route, in every round) so machine noise hits all alike; each
ratio is computed per round and reported as the median with its range.

With `--baseline-src DIR` (another checkout's `src`), a second runner on that code serves the same
routes in the same rounds, rows marked "(before)": a before/after measured under the same load.

The "relay floor" rows are `relay_floor.py`, the least a relay on uvicorn can do per request (parse,
one kept-alive round trip to the same engine, answer), in the same rounds: the server CPU no Python
server on this stack gets under, beside which modelrunner's own is read.

Writes bench/results/request_path.json and request_path.md.

    .venv/bin/python bench/request_path.py [--rounds 7] [--requests-per-client 25] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import DirectEngine, LoadTarget, RelayFloor, cpu_seconds, start_runner, tiny_store, write_results
from rounds import interleaved, per_round_ratios, spread

SLOTS = 4
CLIENT_COUNTS = (4, 16)
MAX_TOKENS = 8
ASK = [{"role": "user", "content": "Say hello."}]
# llama.cpp's server ties an HTTP thread to each kept-alive connection (see bench/lifecycle.py): the
# baseline closes each connection, as llama.cpp does for the streamed answers modelrunner asks of it.
ENGINE_HEADERS = {"connection": "close"}
BIG_BODY_BYTES = 40 * 1024
CONTEXT = 262144  # 4 slots of 64K tokens: room for the 40 KB conversation in the tiny tokenizer


API_ROUTES = ("anthropic", "openai", "ollama")
BEFORE = " (before)"
"""Suffix of a route served by the baseline checkout (`--baseline-src`)."""
FLOOR = "relay floor"
"""The minimal relay's route (`relay_floor.py`)."""


def api_routes(runner_url: str, suffix: str = "") -> dict[str, tuple[str, dict[str, Any], dict[str, str] | None]]:
    """name -> (url, body, headers): modelrunner's route of each API."""
    return {
        "openai" + suffix: (runner_url + "/engines/v1/chat/completions",
                            {"model": "ai/tiny", "messages": ASK, "max_tokens": MAX_TOKENS, "temperature": 0}, None),
        "anthropic" + suffix: (runner_url + "/v1/messages", {"model": "ai/tiny", "max_tokens": MAX_TOKENS,
                                                              "temperature": 0, "messages": ASK}, None),
        "ollama" + suffix: (runner_url + "/api/chat", {"model": "ai/tiny", "messages": ASK, "stream": False,
                                                       "options": {"num_predict": MAX_TOKENS, "temperature": 0}}, None),
    }


def routes(runner_url: str, engine_url: str, floor_url: str,
           baseline_url: str | None = None) -> dict[str, tuple[str, dict[str, Any], dict[str, str] | None]]:
    """name -> (url, body, headers): the bare engine, modelrunner's route of each API, the minimal relay,
    and the same routes of the baseline checkout when one runs beside it."""
    openai_body = {"messages": ASK, "max_tokens": MAX_TOKENS, "temperature": 0}
    return {"engine": (engine_url + "/v1/chat/completions", openai_body, ENGINE_HEADERS), **api_routes(runner_url),
            FLOOR: (floor_url + "/v1/messages", api_routes(floor_url)["anthropic"][1], None),
            **(api_routes(baseline_url, BEFORE) if baseline_url is not None else {})}


async def compare(targets: dict[str, LoadTarget], clients: int, per_client: int, rounds: int) -> dict[str, Any]:
    for target in targets.values():
        await target.client(SLOTS, [])  # warm: load, prompt cache, connections
    runs = await interleaved({name: functools.partial(target.round, clients, per_client)
                              for name, target in targets.items()}, rounds)
    engine = runs["engine"]
    result: dict[str, Any] = {"engine": {key: spread([run[key] for run in engine])
                                         for key in ("requests_per_s", "latency_median_ms")}}
    for name, per in runs.items():
        if name == "engine":
            continue
        result[name] = {
            "requests_per_s": spread([run["requests_per_s"] for run in per]),
            "throughput_ratio": spread(per_round_ratios([run["requests_per_s"] for run in per],
                                                        [base["requests_per_s"] for base in engine])),
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


async def measure(runner_url: str, engine_url: str, server: psutil.Process, floor: RelayFloor, per_client: int,
                  rounds: int, big_requests: int, baseline: tuple[str, psutil.Process] | None = None) -> dict[str, Any]:
    def server_of(name: str) -> psutil.Process | None:
        if name == "engine":
            return None
        if name == FLOOR:
            return psutil.Process(floor.process.pid)
        return baseline[1] if baseline is not None and name.endswith(BEFORE) else server

    targets = {name: LoadTarget(url, body, headers=headers, server=server_of(name), max_clients=max(CLIENT_COUNTS))
               for name, (url, body, headers) in routes(runner_url, engine_url, floor.url,
                                                        baseline[0] if baseline else None).items()}
    try:
        results: dict[str, Any] = {f"clients_{clients}": await compare(targets, clients, per_client, rounds)
                                   for clients in CLIENT_COUNTS}
    finally:
        for target in targets.values():
            await target.aclose()
    results["anthropic_40kb_stream_to_message_start"] = await cpu_to_message_start(runner_url, server, big_requests)
    if baseline is not None:
        results["anthropic_40kb_stream_to_message_start" + BEFORE] = await cpu_to_message_start(*baseline, big_requests)
    return results


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    rows = ["| clients | route | requests/s (engine) | ratio to engine | added median latency | server CPU / request |",
            "|---|---|---|---|---|---|"]
    for clients in CLIENT_COUNTS:
        run = results[f"clients_{clients}"]
        engine_rps = run["engine"]["requests_per_s"]["median"]
        for route in [*(name for api in API_ROUTES for name in (api, api + BEFORE) if name in run), FLOOR]:
            r = run[route]
            rows.append(
                f"| {clients} | {route} | {r['requests_per_s']['median']:.1f} ({engine_rps:.1f}) | "
                f"{r['throughput_ratio']['median']:.2f} ({r['throughput_ratio']['min']:.2f}–"
                f"{r['throughput_ratio']['max']:.2f}) | {r['added_median_latency_ms']['median']:+.1f} ms "
                f"({r['added_median_latency_ms']['min']:+.1f}–{r['added_median_latency_ms']['max']:+.1f}) | "
                f"{r['server_cpu_ms_per_request']['median']:.2f} ms |")
    for suffix in ("", BEFORE):
        big = results.get("anthropic_40kb_stream_to_message_start" + suffix)
        if big is None:
            continue
        cpu = big["server_cpu_ms"]
        rows.append(f"\nStreamed Anthropic request{suffix}, {big['body_bytes'] // 1024} KB body: server CPU from "
                    f"body to message_start {big['mean_ms']:.1f} ms, the mean over {big['requests']} requests "
                    f"(each sample is whole 10 ms CPU ticks: {cpu['min']:.0f}–{cpu['max']:.0f} ms).")
    return (f"Tiny model, {SLOTS} slots, {args.threads} threads, max_tokens {MAX_TOKENS}; {args.rounds} interleaved "
            f"rounds, each client sending {args.requests_per_client} requests; median (range) over rounds; "
            f"load average at start {results['load_average_at_start']:.1f}, at end {results['load_average_at_end']:.1f}."
            + (f" Rows marked (before) are {results['baseline_src']}, run beside this code in the same rounds."
               if results.get("baseline_src") else "")
            + f" The {FLOOR} is `relay_floor.py`: uvicorn, the JSON and one kept-alive round trip to the engine, "
              "nothing else; its server CPU is the least any relay on this stack spends." + "\n\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests-per-client", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--big-requests", type=int, default=20)
    parser.add_argument("--baseline-src", type=Path,
                        help="a checkout's src folder (say `git archive main src`) to run beside this code")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store, _ = tiny_store(tmp, context_length=CONTEXT)
        gguf = tmp / "tiny.gguf"
        load = psutil.getloadavg()[0]
        engine = DirectEngine(gguf, context_size=CONTEXT, slots=SLOTS, threads=args.threads)
        runner = start_runner(store, tmp / "runner.log", threads=args.threads, context_size=CONTEXT,
                              import_default=False)
        floor = RelayFloor(engine.url, SLOTS)
        before = None
        if args.baseline_src is not None:
            before_store, _ = tiny_store(tmp / "before", context_length=CONTEXT)
            before = start_runner(before_store, tmp / "before.log", threads=args.threads, context_size=CONTEXT,
                                  import_default=False, src=args.baseline_src)
        try:
            assert runner.process is not None
            baseline = (before.url, psutil.Process(before.process.pid)) if before and before.process else None
            results = asyncio.run(measure(runner.url, engine.url, psutil.Process(runner.process.pid), floor,
                                          args.requests_per_client, args.rounds, args.big_requests, baseline))
        finally:
            runner.stop()
            floor.stop()
            if before is not None:
                before.stop()
            engine.stop()
    results = {"load_average_at_start": load, "load_average_at_end": psutil.getloadavg()[0], "slots": SLOTS,
               "threads": args.threads, "baseline_src": str(args.baseline_src) if args.baseline_src else None,
               **results}
    write_results("request_path", results, table(results, args))


if __name__ == "__main__":
    main()
