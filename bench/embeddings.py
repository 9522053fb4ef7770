"""Embeddings benchmark (issue 14): embeddings per second for requests of 1 and of 64 inputs, through
modelrunner's `/engines/v1/embeddings` against llama.cpp's own `/embeddings` on the same model, same
pooling, slots and threads, rounds interleaved in one run. Target: >= 0.95. The model is the tests' tiny
llama (`--model smollm2` for the default model): the ratio measures what modelrunner adds per request,
and on this 2-core machine SmolLM2 embeds at about one text per second in either. `relay_floor.py`
relays the same requests to the same engine in the same rounds: what any Python relay on uvicorn keeps.

Writes bench/results/embeddings.json and embeddings.md.

    .venv/bin/python bench/embeddings.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness import DirectEngine, RelayFloor, start_runner, write_results
from rounds import per_round_ratios, spread

from modelrunner.store.default_model import shipped_gguf_path
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.tiny_model import write_tiny_llama_gguf

MODELS = {"tiny": TINY_MODEL, "smollm2": "ai/smollm2"}
CONTEXT = 2048
SLOTS = 4
THREADS = 2
TARGET = 0.95
FLOOR = "relay floor"
"""The minimal relay's target (`relay_floor.py`)."""
INCONCLUSIVE_SPREAD = 2.0
"""Highest round ratio over the lowest beyond which a run decides nothing."""
CLIENTS = 4
WORKLOADS = {1: 32, 64: 4}
"""Inputs per request -> requests per client per round."""
TEXTS = [f"Document {n}: the quick brown fox jumps over the lazy dog, then rests by river number {n}."
         for n in range(64)]


def embedding_engine(model_path: Path) -> DirectEngine:
    """llama.cpp's server in embedding mode, started by hand the way modelrunner's worker starts it: no
    host prompt cache (llama.cpp's 8 GiB default saves every slot's state per request, which an
    embedding never reuses)."""
    return DirectEngine(model_path, context_size=CONTEXT, slots=SLOTS, threads=THREADS, mode="embedding",
                        pooling=1, runtime_settings={"cache_ram_mib": 0})


async def _client(http: httpx.AsyncClient, url: str, body_for: Any, batch: int, requests: int) -> None:
    for n in range(requests):
        texts = [TEXTS[(n + i) % len(TEXTS)] for i in range(batch)]
        response = await http.post(url, json=body_for(texts))
        response.raise_for_status()


async def embeddings_per_second(url: str, body_for: Any, batch: int, requests: int, *, keep_alive: bool) -> float:
    """`keep_alive`: each client reuses its connection, as the SDKs do; else a new connection per request."""
    limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=None, trust_env=False, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(_client(http, url, body_for, batch, requests) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    return CLIENTS * requests * batch / elapsed


def runner_body(texts: list[str], model: str = TINY_MODEL) -> dict[str, Any]:
    return {"model": model, "input": texts, "encoding_format": "float"}


def engine_body(texts: list[str]) -> dict[str, Any]:
    return {"content": texts}


async def measure(runner_url: str, engine_url: str, floor_url: str, rounds: int, model: str, *,
                  keep_alive: bool) -> dict[str, Any]:
    targets = {"modelrunner": (runner_url + "/engines/v1/embeddings", lambda texts: runner_body(texts, model)),
               "llama.cpp": (engine_url + "/embeddings", engine_body),
               FLOOR: (floor_url + "/v1/embeddings", lambda texts: runner_body(texts, model))}
    results: dict[str, Any] = {}
    for batch, requests in WORKLOADS.items():
        for url, body in targets.values():  # warm each
            await embeddings_per_second(url, body, batch, 1, keep_alive=keep_alive)
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for round_number in range(rounds):
            order = list(targets) if round_number % 2 == 0 else list(reversed(targets))
            for name in order:
                url, body = targets[name]
                samples[name].append(await embeddings_per_second(url, body, batch, requests, keep_alive=keep_alive))
                print(f"batch {batch} round {round_number} {name}: {samples[name][-1]:.1f} emb/s", flush=True)
        ratios = per_round_ratios(samples["modelrunner"], samples["llama.cpp"])
        results[f"batch_{batch}"] = {
            "inputs_per_request": batch, "requests_per_round": CLIENTS * requests,
            "modelrunner_eps": samples["modelrunner"], "llamacpp_eps": samples["llama.cpp"],
            "relay_floor_eps": samples[FLOOR],
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "relay_floor_ratio": spread(per_round_ratios(samples[FLOOR], samples["llama.cpp"])),
        }
    return results


def _verdict(entry: dict[str, Any]) -> str:
    """met or MISSED, unless the rounds disagree by more than INCONCLUSIVE_SPREAD: then the run measured the
    machine's other load more than the runner, and says so."""
    if entry["ratio_max"] > INCONCLUSIVE_SPREAD * entry["ratio_min"]:
        return "inconclusive: rounds disagree"
    return "met" if entry["ratio_median"] >= TARGET else "MISSED"


def table(results: dict[str, Any], model: str, load: tuple[float, float], *, keep_alive: bool) -> str:
    connections = "each keeping its connection" if keep_alive else "a new connection per request"
    lines = ["# Embeddings: modelrunner vs llama.cpp's own /embeddings",
             "",
             f"Model {model} (mean pooling), {SLOTS} slots, {THREADS} threads, {CLIENTS} concurrent clients "
             f"({connections}), rounds interleaved; embeddings per second, median round. Both engines run without llama.cpp's "
             f"host prompt cache. 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
             f"({os.cpu_count()} CPUs, shared).",
             "",
             f"The {FLOOR} is `relay_floor.py` relaying the same embeddings requests to the same bare engine "
             "(uvicorn, the JSON and one kept-alive round trip, nothing else): the most a Python relay on this "
             "stack keeps of the engine's rate.",
             "",
             "| inputs per request | modelrunner emb/s | llama.cpp emb/s | ratio (median) | ratio spread | target "
             f"| {FLOOR}: ratio (spread) |",
             "|---|---|---|---|---|---|---|"]
    for entry in results.values():
        floor = entry["relay_floor_ratio"]
        lines.append(f"| {entry['inputs_per_request']} | {statistics.median(entry['modelrunner_eps']):.1f} | "
                     f"{statistics.median(entry['llamacpp_eps']):.1f} | {entry['ratio_median']:.3f} | "
                     f"{entry['ratio_min']:.3f}-{entry['ratio_max']:.3f} | "
                     f"{_verdict(entry)} (>= {TARGET}) | {floor['median']:.3f} "
                     f"({floor['min']:.3f}-{floor['max']:.3f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--close-connections", action="store_true",
                        help="a new connection for every request (default: each client keeps its own, as the "
                             "openai and ollama SDKs do)")
    args = parser.parse_args()
    model = MODELS[args.model]
    keep_alive = not args.close_connections
    load_before = os.getloadavg()[0]
    os.environ["MODEL_RUNNER_KEEP_ALIVE"] = "-1"  # a runner idle while the baseline runs must stay loaded
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "store"
        if args.model == "tiny":
            gguf = write_tiny_llama_gguf(Path(scratch) / "tiny.gguf")
            make_tiny_store(store, gguf)
        else:
            gguf = shipped_gguf_path()
        runner = start_runner(store, Path(scratch) / "runner.log", threads=THREADS, context_size=CONTEXT,
                              import_default=args.model != "tiny")
        engine = embedding_engine(gguf)
        floor = RelayFloor(engine.url, SLOTS)
        try:
            httpx.post(runner.url + "/engines/v1/embeddings", json=runner_body(["load"], model),
                       timeout=120).raise_for_status()
            results = asyncio.run(measure(runner.url, engine.url, floor.url, args.rounds, model,
                                          keep_alive=keep_alive))
        finally:
            floor.stop()
            engine.stop()
            runner.stop()
    load = (load_before, os.getloadavg()[0])
    write_results("embeddings", {"model": model, "slots": SLOTS, "threads": THREADS, "clients": CLIENTS,
                                 "target": TARGET, "load_average": load,
                                 "keep_alive": keep_alive, "results": results},
                  table(results, model, load, keep_alive=keep_alive))


if __name__ == "__main__":
    main()
