"""Request recorder benchmark (issue 11): what recording costs each request, and what reading a record costs.

Two runners on the same tiny model, one recording (the default) and one with MODEL_RUNNER_RECORD=0, take the
same non-streamed Anthropic requests in interleaved rounds; each round reports the server's CPU per request
and its worker's (the recorder used to render every prompt through the worker). Then the recording runner's
CPU for one read of a record by id, where a chat's prompt is rendered now.

Writes bench/results/recorder.json and recorder.md.

    .venv/bin/python bench/recorder.py [--rounds 10] [--requests-per-client 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import LoadTarget, cpu_seconds, machine_load, tiny_store, write_results
from rounds import interleaved, spread
from tests.support.server import RunningServer  # harness puts the repository on the path

CLIENTS = 4
ASK = {"model": "ai/tiny", "max_tokens": 8, "temperature": 0, "messages": [{"role": "user", "content": "Say hello."}]}
SETTLE_S = 0.5
"""Pause after each round before reading the CPU: the recorder's work after the last answer counts too."""
READS = 50


def start(root: Path, *, record: bool, threads: int) -> RunningServer:
    store, _ = tiny_store(root)
    env = {"MODEL_RUNNER_THREADS": str(threads), "MODEL_RUNNER_LOG_LEVEL": "WARNING",
           "MODEL_RUNNER_RECORD": "1" if record else "0"}
    return RunningServer(store, root / "server.log", env=env).start(timeout_s=120)


def workers_cpu(server: psutil.Process) -> float:
    return sum(cpu_seconds(child) for child in server.children(recursive=True))


class Measured:
    """One runner under load, its server's and its workers' CPU per request measured each round."""

    def __init__(self, running: RunningServer, clients: int, per_client: int) -> None:
        assert running.process is not None
        self.process = psutil.Process(running.process.pid)
        self.target = LoadTarget(running.url + "/v1/messages", ASK, server=self.process)
        self.clients, self.per_client = clients, per_client

    async def round(self) -> dict[str, float]:
        server_before, workers_before = cpu_seconds(self.process), workers_cpu(self.process)
        latencies: list[float] = []
        await asyncio.gather(*(self.target.client(self.per_client, latencies) for _ in range(self.clients)))
        await asyncio.sleep(SETTLE_S)
        requests = self.clients * self.per_client
        return {"server_cpu_ms_per_request": (cpu_seconds(self.process) - server_before) * 1000 / requests,
                "worker_cpu_ms_per_request": (workers_cpu(self.process) - workers_before) * 1000 / requests}


async def record_reads(url: str, server: psutil.Process) -> dict[str, Any]:
    """Server CPU per read of one record by id (its prompt rendered then), over the last READS records:
    measured over all the reads together, finer than the CPU clock's tick."""
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as http:
        records = (await http.get("/engines/requests", params={"limit": READS})).json()["requests"]
        before = cpu_seconds(server)
        for record in records:
            answer = await http.get(f"/engines/requests/{record['id']}")
            assert answer.status_code == 200 and answer.json()["rendered_prompt"], answer.text
        used = cpu_seconds(server) - before
    return {"reads": len(records), "server_cpu_ms_per_read": used * 1000 / len(records)}


async def measure(on: RunningServer, off: RunningServer, rounds: int, per_client: int) -> dict[str, Any]:
    targets = {"recording": Measured(on, CLIENTS, per_client), "not_recording": Measured(off, CLIENTS, per_client)}
    for target in targets.values():
        await target.target.client(CLIENTS, [])  # warm: load, prompt cache, connections
    try:
        runs = await interleaved({name: target.round for name, target in targets.items()}, rounds)
    finally:
        for target in targets.values():
            await target.target.aclose()
    result: dict[str, Any] = {name: {key: spread([run[key] for run in per]) for key in per[0]}
                              for name, per in runs.items()}
    result["recorder_server_cpu_ms_per_request"] = spread(
        [on_run["server_cpu_ms_per_request"] - off_run["server_cpu_ms_per_request"]
         for on_run, off_run in zip(runs["recording"], runs["not_recording"])])
    result["record_read"] = await record_reads(on.url, targets["recording"].process)
    return result


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    def cell(value: dict[str, float]) -> str:
        return f"{value['median']:.3f} ms ({value['min']:.3f}–{value['max']:.3f})"

    rows = ["| runner | server CPU / request | worker CPU / request |", "|---|---|---|"]
    for name in ("recording", "not_recording"):
        run = results[name]
        rows.append(f"| {name.replace('_', ' ')} | {cell(run['server_cpu_ms_per_request'])} | "
                    f"{cell(run['worker_cpu_ms_per_request'])} |")
    read = results["record_read"]
    return (f"Tiny model, non-streamed Anthropic requests (max_tokens 8), {CLIENTS} clients × "
            f"{args.requests_per_client} requests a round, {args.rounds} interleaved rounds; median (range); "
            f"load average {results['load_average_at_start']:.1f} at start, {results['load_average_at_end']:.1f} "
            f"at the end.\n\n" + "\n".join(rows) +
            f"\n\nRecording minus not recording, per round: {cell(results['recorder_server_cpu_ms_per_request'])} "
            f"of server CPU a request. Reading a record by id (its prompt rendered): "
            f"{read['server_cpu_ms_per_read']:.2f} ms of server CPU, over {read['reads']} reads.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests-per-client", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        load = machine_load()[0]
        started = time.perf_counter()
        with start(tmp / "on", record=True, threads=args.threads) as on, \
                start(tmp / "off", record=False, threads=args.threads) as off:
            results = asyncio.run(measure(on, off, args.rounds, args.requests_per_client))
    results = {"load_average_at_start": load, "load_average_at_end": machine_load()[0],
               "seconds": round(time.perf_counter() - started, 1), **results}
    write_results("recorder", results, table(results, args))


if __name__ == "__main__":
    main()
