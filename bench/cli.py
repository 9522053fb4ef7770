"""CLI benchmark: wall time of the `modelrunner` command itself against a running server on the default
model: `list` (target: under 300 ms) and `run ai/smollm2 Hello --max-tokens 16` (cold: first load of the
model; warm: loaded). The Python start-up alone is measured beside them, as the floor. The machine is shared, so the
load average and each command's own CPU time are recorded beside the wall times. Writes bench/results/cli.json.

    .venv/bin/python bench/cli.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, start_runner, write_results
from rounds import spread

COMMAND = str(REPO / ".venv" / "bin" / "modelrunner")
LIST_TARGET_MS = 300.0
RUN_MAX_TOKENS = 16  # start-up is what is measured, not how long the model chooses to talk


def timed_ms(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time, and the command's own CPU time (user + system), which a busy machine disturbs less."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - started) * 1000
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime) * 1000
    return wall, cpu


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = spread([wall for wall, _ in samples])
    return {"median_ms": round(walls["median"], 1), "min_ms": round(walls["min"], 1),
            "max_ms": round(walls["max"], 1), "cpu_median_ms": round(statistics.median(c for _, c in samples), 1),
            "runs": len(samples)}


def measure(env: dict[str, str], runs: int) -> dict:
    run_hello = [COMMAND, "run", "ai/smollm2", "Hello", "--max-tokens", str(RUN_MAX_TOKENS)]
    cold_run = timed_ms(run_hello, env)
    return {
        "python_startup": summary([timed_ms([sys.executable, "-c", "pass"], env) for _ in range(runs)]),
        "list": summary([timed_ms([COMMAND, "list"], env) for _ in range(runs)]),
        "run_one_word_cold": summary([cold_run]),
        "run_one_word_warm": summary([timed_ms(run_hello, env) for _ in range(max(3, runs // 4))]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        load_before = round(os.getloadavg()[0], 2)
        runner = start_runner(root / "store", root / "server.log", threads=2, context_size=2048,
                              import_default=True)
        try:
            env = {**os.environ, "MODEL_RUNNER_HOST": runner.url, "MODEL_RUNNER_NO_AUTOSTART": "1"}
            results = measure(env, args.runs)
        finally:
            runner.stop()
    results["load_average_1m_before"] = load_before
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    results["run_max_tokens"] = RUN_MAX_TOKENS
    results["list_target_ms"] = LIST_TARGET_MS
    results["list_meets_target"] = results["list"]["median_ms"] < LIST_TARGET_MS
    rows = [f"| {name} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | {r['cpu_median_ms']} | {r['runs']} |"
            for name, r in results.items() if isinstance(r, dict) and "runs" in r]
    table = "\n".join(["| command | median ms | min ms | max ms | CPU median ms | runs |",
                       "|---|---|---|---|---|---|", *rows])
    write_results("cli", results, table)


if __name__ == "__main__":
    main()
