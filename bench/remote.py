"""The remote engine's costs: the relay ceiling against a synthetic upstream (tokens/s through the
Anthropic stream against reading the upstream directly, and the runner's CPU per token), the server's
CPU per relayed request (short streams, so what a stream costs beyond its tokens), two tiny-model
replicas against one, and failover when a replica is killed. Rounds interleaved in one run.

With `--baseline-src DIR` (a checkout's `src`, say `git archive main src`), a second server runs that
code beside this one and every relay round is measured on both, in alternating order, so a change is
judged against its baseline under the same load.

    python bench/remote.py [--rounds 3] [--tokens 2000] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import REPO, StreamTiming, stream_anthropic, stream_openai, write_results

from modelrunner.core.chat import ChatRequest, Sampling, Usage  # noqa: E402
from modelrunner.engines.remote.runner import RemoteRunner  # noqa: E402
from modelrunner.engines.remote.upstream import ReplicaAddress, Upstream  # noqa: E402
from tests.support.server import RunningServer, free_port  # noqa: E402
from tests.support.tiny_model import write_tiny_llama_gguf  # noqa: E402
from tests.support.upstreams import LlamaCppServer  # noqa: E402

SYNTHETIC_MODEL = "synthetic/relay-bench"
ROUND_TOKENS = 64_000
ASK = [{"role": "user", "content": "Tell me a story."}]


class SyntheticUpstreamProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen([sys.executable, str(REPO / "bench" / "synthetic_upstream.py"), str(self.port)],
                                        stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == b"ready"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def server_cpu_s(server: RunningServer) -> float:
    assert server.process is not None
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system


async def streams(kind: str, http: httpx.AsyncClient, url: str, body: dict[str, Any], concurrency: int
                  ) -> tuple[float, int]:
    """(tokens/s from the first request sent to the last token, tokens) of `concurrency` streams at once."""
    if kind == "relay":
        timings: list[StreamTiming] = [timing for timing, _ in await asyncio.gather(
            *(stream_anthropic(http, url, body) for _ in range(concurrency)))]
    else:
        timings = await asyncio.gather(*(stream_openai(http, url, body) for _ in range(concurrency)))
    first = min(t.started for t in timings)
    last = max(t.finished for t in timings)
    tokens = sum(t.tokens for t in timings)
    return (tokens / (last - first) if last > first else 0.0), tokens


async def _relay_round(http: httpx.AsyncClient, front: RunningServer, body: dict[str, Any], concurrency: int
                       ) -> tuple[float, float]:
    """(tokens/s, server CPU µs per token) of one round of `concurrency` streams through `front`."""
    before = server_cpu_s(front)
    rate, relayed = await streams("relay", http, front.url + "/v1/messages", body, concurrency)
    return rate, (server_cpu_s(front) - before) / max(relayed, 1) * 1e6


async def relay_ceiling(http: httpx.AsyncClient, fronts: dict[str, RunningServer], upstream: SyntheticUpstreamProcess,
                        *, rounds: int, tokens: int) -> dict[str, Any]:
    """Per concurrency, the direct read and, for every front (this code, and a baseline if given), the
    relay: rounds interleaved, the fronts' order alternating from round to round."""
    results: dict[str, Any] = {}
    direct_url = upstream.url + "/chat/completions"
    for concurrency in (1, 16, 64):
        # long streams, so the per-request cost (parse, resolve, admit) is not the relay's; and at least
        # ROUND_TOKENS a round, so the process's 10 ms CPU clock tick is a small part of what is measured
        per_stream = max(tokens, ROUND_TOKENS // concurrency)
        relay_body = {"model": "bench/synthetic", "max_tokens": per_stream, "messages": ASK}
        direct_body = {"model": SYNTHETIC_MODEL, "max_tokens": per_stream, "messages": ASK}
        direct_rates: list[float] = []
        rates: dict[str, list[float]] = {name: [] for name in fronts}
        cpu: dict[str, list[float]] = {name: [] for name in fronts}
        for number in range(rounds):
            rate, _ = await streams("direct", http, direct_url, direct_body, concurrency)
            direct_rates.append(rate)
            names = list(fronts) if number % 2 == 0 else list(reversed(fronts))
            for name in names:
                rate, cpu_per_token = await _relay_round(http, fronts[name], relay_body, concurrency)
                rates[name].append(rate)
                cpu[name].append(cpu_per_token)
        row: dict[str, Any] = {"tokens_per_stream": per_stream, "direct_tokens_per_s": statistics.median(direct_rates)}
        for name in fronts:
            prefix = "" if name == "current" else f"{name}_"
            row.update({
                f"{prefix}relay_tokens_per_s": statistics.median(rates[name]),
                f"{prefix}relay_tokens_per_s_range": [min(rates[name]), max(rates[name])],
                f"{prefix}server_cpu_us_per_token": statistics.median(cpu[name]),
                f"{prefix}server_cpu_us_per_token_range": [min(cpu[name]), max(cpu[name])],
            })
        if "baseline" in fronts:
            ratios = [new / old for new, old in zip(cpu["current"], cpu["baseline"])]
            row["cpu_ratio_to_baseline"] = statistics.median(ratios)
            row["cpu_ratio_to_baseline_range"] = [min(ratios), max(ratios)]
        results[str(concurrency)] = row
    return results


async def request_cpu(http: httpx.AsyncClient, fronts: dict[str, RunningServer], *, rounds: int,
                      concurrency: int = 64, tokens: int = 16) -> dict[str, Any]:
    """Server CPU per relayed request: `concurrency` streams of `tokens` tokens, so that what a stream
    costs beyond its tokens (the edge, the route, the upstream request) dominates. At 64 streams of 2000
    tokens this cost is a part of the per-token figure that one stream of 64000 amortises away."""
    body = {"model": "bench/synthetic", "max_tokens": tokens, "messages": ASK}
    cpu: dict[str, list[float]] = {name: [] for name in fronts}
    for number in range(rounds):
        for name in (list(fronts) if number % 2 == 0 else list(reversed(fronts))):
            before = server_cpu_s(fronts[name])
            await streams("relay", http, fronts[name].url + "/v1/messages", body, concurrency)
            cpu[name].append((server_cpu_s(fronts[name]) - before) / concurrency * 1e3)
    return {name: {"server_cpu_ms_per_request": statistics.median(values),
                   "server_cpu_ms_per_request_range": [min(values), max(values)]} for name, values in cpu.items()}


async def engine_cpu_per_token(upstream: SyntheticUpstreamProcess, *, rounds: int, tokens: int) -> dict[str, Any]:
    """The remote engine alone, in this process: reading, splitting, parsing and decoding one stream. What
    the relay costs beyond it is the server's route, encoder and socket writes, shared with every engine."""
    runner = RemoteRunner(Upstream(name="bench", model=SYNTHETIC_MODEL, replicas=(ReplicaAddress(upstream.url, "openai"),)),
                          label="bench", api_key=None, health_interval_s=3600, connect_timeout_s=5, probe_timeout_s=5)
    await runner.start()
    request = ChatRequest(model="bench", messages=ASK, sampling=Sampling(max_tokens=tokens * 10))
    costs = []
    try:
        for _ in range(rounds):
            started, relayed = time.process_time(), 0
            async for chunk in runner.chat(request):
                if type(chunk) is Usage:
                    relayed = chunk.completion_tokens
            costs.append((time.process_time() - started) / max(relayed, 1) * 1e6)
    finally:
        await runner.stop()
    return {"cpu_us_per_token": statistics.median(costs), "cpu_us_per_token_range": [min(costs), max(costs)]}


async def aggregate_rate(http: httpx.AsyncClient, url: str, model: str, concurrency: int) -> float:
    bodies = [{"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": f"Story number {n}"}]}
              for n in range(concurrency)]
    runs = [run for run, _ in await asyncio.gather(*(stream_anthropic(http, url, body) for body in bodies))]
    first = min(t.started for t in runs)
    last = max(t.finished for t in runs)
    return sum(t.tokens for t in runs) / (last - first)


async def scale(http: httpx.AsyncClient, front: RunningServer, *, rounds: int) -> dict[str, Any]:
    url = front.url + "/v1/messages"
    one, two, ratios = [], [], []
    for _ in range(rounds):
        single = await aggregate_rate(http, url, "bench/one", 8)
        double = await aggregate_rate(http, url, "bench/two", 8)
        one.append(single)
        two.append(double)
        ratios.append(double / single)
    return {"one_replica_tokens_per_s": statistics.median(one), "two_replicas_tokens_per_s": statistics.median(two),
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}


async def failover(http: httpx.AsyncClient, front: RunningServer, victim: LlamaCppServer) -> dict[str, Any]:
    """Four clients ask in a loop; a replica is killed; every request started in the 5 s after counts."""
    url = front.url + "/v1/messages"
    outcomes: list[tuple[float, bool]] = []
    stop_at = time.monotonic() + 8.0
    killed_at: list[float] = []

    async def client(number: int) -> None:
        turn = 0
        while time.monotonic() < stop_at:
            started = time.monotonic()
            body = {"model": "bench/two", "max_tokens": 16, "messages": [{"role": "user", "content": f"{number}-{turn}"}]}
            try:
                response = await http.post(url, json=body)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            outcomes.append((started, ok))
            turn += 1

    async def killer() -> None:
        await asyncio.sleep(2.0)
        killed_at.append(time.monotonic())
        victim.kill()

    await asyncio.gather(killer(), *(client(n) for n in range(4)))
    window = [ok for started, ok in outcomes if killed_at[0] <= started <= killed_at[0] + 5.0]
    return {"requests_in_5s_after_kill": len(window), "succeeded": sum(window), "failed": len(window) - sum(window)}


def table(results: dict[str, Any]) -> str:
    has_baseline = "baseline" in results["request_cpu"]
    lines = ["# Remote engine", "",
             f"Load average {results['load_average']:.1f} at the start and {results['load_average_end']:.1f} at the "
             f"end, on {psutil.cpu_count()} CPUs: the machine was shared with other work while this ran, so "
             "CPU per token is inflated and noisy; compare figures measured in the same run.", "",
             "## Relay ceiling (synthetic upstream, Anthropic stream through modelrunner vs reading it directly)", ""]
    if has_baseline:
        lines += [f"Baseline: the same bench against {results['baseline_src']}, run beside this code; rounds "
                  "alternate between the two servers.", "",
                  "| streams | tokens/stream | direct tok/s | relay tok/s (range) | server CPU µs/token (range) | "
                  "baseline µs/token (range) | ratio to baseline (range) | target |", "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["| streams | tokens/stream | direct tok/s | relay tok/s (range) | server CPU µs/token (range) | target |",
                  "|---|---|---|---|---|---|"]
    for concurrency, row in results["relay"].items():
        line = (f"| {concurrency} | {row['tokens_per_stream']} | {row['direct_tokens_per_s']:.0f} | "
                f"{row['relay_tokens_per_s']:.0f} ({row['relay_tokens_per_s_range'][0]:.0f}-"
                f"{row['relay_tokens_per_s_range'][1]:.0f}) | {row['server_cpu_us_per_token']:.1f} "
                f"({row['server_cpu_us_per_token_range'][0]:.1f}-{row['server_cpu_us_per_token_range'][1]:.1f}) |")
        if has_baseline:
            line += (f" {row['baseline_server_cpu_us_per_token']:.1f} ({row['baseline_server_cpu_us_per_token_range'][0]:.1f}-"
                     f"{row['baseline_server_cpu_us_per_token_range'][1]:.1f}) | {row['cpu_ratio_to_baseline']:.2f} "
                     f"({row['cpu_ratio_to_baseline_range'][0]:.2f}-{row['cpu_ratio_to_baseline_range'][1]:.2f}) |")
        lines.append(line + " <= 5 |")
    per_request = results["request_cpu"]
    lines += ["", "Direct tok/s is this bench's own client reading the upstream's one event per token, which "
              "bounds it; through modelrunner a text event carries every token one upstream read brought."]
    lines += ["", "Server CPU per relayed request (64 streams of 16 tokens; a cost per stream, which the 64-stream "
              "row amortises over 2000 tokens and the one-stream row over 64000): "
              + "; ".join(f"{name} {row['server_cpu_ms_per_request']:.2f} ms ({row['server_cpu_ms_per_request_range'][0]:.2f}-"
                          f"{row['server_cpu_ms_per_request_range'][1]:.2f})" for name, row in per_request.items()) + "."]
    engine_only = results["engine_only"]
    lines += ["", f"The remote engine alone (read, split, parse, decode; no route, encoder or socket write): "
              f"{engine_only['cpu_us_per_token']:.1f} µs/token ({engine_only['cpu_us_per_token_range'][0]:.1f}-"
              f"{engine_only['cpu_us_per_token_range'][1]:.1f})."]
    scale_row = results["scale"]
    lines += ["", "## Two tiny-model replicas against one (8 streams, 64 tokens each)", "",
              "| one replica tok/s | two replicas tok/s | ratio (range) | target |", "|---|---|---|---|",
              f"| {scale_row['one_replica_tokens_per_s']:.0f} | {scale_row['two_replicas_tokens_per_s']:.0f} | "
              f"{scale_row['ratio']:.2f} ({scale_row['ratio_range'][0]:.2f}-{scale_row['ratio_range'][1]:.2f}) | >= 1.8 |",
              "", "## Failover (a replica killed; requests started in the next 5 s)", "",
              f"{results['failover']['succeeded']} of {results['failover']['requests_in_5s_after_kill']} succeeded "
              f"({results['failover']['failed']} failed)."]
    return "\n".join(lines)


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    gguf = write_tiny_llama_gguf(root / "tiny.gguf")
    upstream = SyntheticUpstreamProcess()
    replicas = [LlamaCppServer(gguf, slots=4).start() for _ in range(2)]
    env = {"MODEL_RUNNER_UPSTREAMS": "1", "MODEL_RUNNER_LOG_LEVEL": "WARNING",
           "MODEL_RUNNER_UPSTREAM_HEALTH_INTERVAL": "0.5", "MODEL_RUNNER_QUEUE_LENGTH": "256"}
    front = RunningServer(root / "store", root / "front.log", env=env).start()
    fronts = {"current": front}
    if args.baseline_src:
        fronts["baseline"] = RunningServer(root / "baseline-store", root / "baseline.log",
                                           env={**env, "PYTHONPATH": str(Path(args.baseline_src).resolve())}).start()
    try:
        # keep-alive shorter than the server's 5 s, so a pooled connection is never reused as the server closes it
        async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=None, keepalive_expiry=2.0)) as http:
            for server in fronts.values():
                (await http.post(server.url + "/engines/upstreams", json={
                    "name": "bench/synthetic", "urls": [upstream.url], "max_concurrency": 64})).raise_for_status()
            for body in ({"name": "bench/one", "urls": [replicas[0].url], "max_concurrency": 4},
                         {"name": "bench/two", "urls": [r.url for r in replicas], "max_concurrency": 4}):
                (await http.post(front.url + "/engines/upstreams", json=body)).raise_for_status()
            load = psutil.getloadavg()[0]
            engine_only = await engine_cpu_per_token(upstream, rounds=args.rounds, tokens=args.tokens)
            relay = await relay_ceiling(http, fronts, upstream, rounds=args.rounds, tokens=args.tokens)
            per_request = await request_cpu(http, fronts, rounds=args.rounds)
            scaled = await scale(http, front, rounds=args.rounds)
            failed_over = await failover(http, front, replicas[1])
            load_end = psutil.getloadavg()[0]
    finally:
        for server in fronts.values():
            server.stop()
        upstream.stop()
        for replica in replicas:
            replica.stop()
    return {"load_average": load, "load_average_end": load_end, "baseline_src": args.baseline_src,
            "engine_only": engine_only, "relay": relay, "request_cpu": per_request, "scale": scaled,
            "failover": failed_over}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--baseline-src", help="a checkout's src folder to run beside this code as the baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(run(args, Path(folder)))
    write_results("remote", results, table(results))


if __name__ == "__main__":
    main()
