"""Distribution benchmark: pulling a 500 MB model from a local registry through modelrunner's
`POST /models/create` versus `curl` fetching the same blob from the same registry, rounds interleaved (order alternating, disk
synced before each run).

Target (issue 4): the pull moves at least 90% of curl's bytes per second. curl writes the blob to a
file on the same disk; the pull also hashes every byte and records the model. Writes
bench/results/distribution.json and distribution.md.

    .venv/bin/python bench/distribution.py [--size-mb 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from harness import start_runner, write_results

from tests.support.distribution import distribution_on, push, random_model_store
from tests.support.registry import RegistryProcess

def curl_rate(url: str, target: Path) -> float:
    os.sync()
    out = subprocess.run(["curl", "-sS", "-o", str(target), "-w", "%{size_download} %{time_total}", url],
                         check=True, capture_output=True, text=True).stdout.split()
    size, seconds = int(out[0]), float(out[1])
    target.unlink()
    return size / seconds


def pull_rate(http: httpx.Client, name: str, model_id: str, size_bytes: int) -> float:
    os.sync()
    started = time.perf_counter()
    with http.stream("POST", "/models/create", json={"from": name}) as response:
        last = ""
        for line in response.iter_lines():
            last = line
    elapsed = time.perf_counter() - started
    event = orjson.loads(last)
    assert event["type"] == "success" and "pulled successfully" in event["message"], event
    http.delete(f"/models/{model_id}", params={"force": "true"}).raise_for_status()
    return size_bytes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size_bytes = args.size_mb * 1000 * 1000
    work = Path(tempfile.mkdtemp(prefix="bench-distribution-"))
    try:
        with RegistryProcess(work / "registry") as registry:
            name = f"{registry.host}/bench/big:v1"
            source, digest = random_model_store(work / "source", name, size_bytes)
            model_id = source.find(name).id
            assert push(distribution_on(source.root), name)[-1]["type"] == "success"
            shutil.rmtree(work / "source")
            blob_url = f"{registry.url}/v2/bench/big/blobs/{digest}"
            runner = start_runner(work / "store", work / "runner.log", threads=1, context_size=2048,
                                  import_default=False)
            curl_rates, pull_rates = [], []
            try:
                with httpx.Client(base_url=runner.url, timeout=None) as http:
                    curl_rate(blob_url, work / "store" / "warm.bin")
                    # Alternate who goes first, and sync before each run: a run right after another
                    # 500 MB write would pay for that write's dirty pages.
                    for round_index in range(args.rounds):
                        for which in ((0, 1) if round_index % 2 == 0 else (1, 0)):
                            if which == 0:
                                curl_rates.append(curl_rate(blob_url, work / "store" / "curl.bin"))
                            else:
                                pull_rates.append(pull_rate(http, name, model_id, size_bytes))
            finally:
                runner.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    curl_median, pull_median = statistics.median(curl_rates), statistics.median(pull_rates)
    ratio = pull_median / curl_median
    results = {
        "blob_bytes": size_bytes,
        "rounds": args.rounds,
        "curl_bytes_per_s": [round(r) for r in curl_rates],
        "pull_bytes_per_s": [round(r) for r in pull_rates],
        "curl_median_mb_per_s": round(curl_median / 1e6, 1),
        "pull_median_mb_per_s": round(pull_median / 1e6, 1),
        "pull_over_curl": round(ratio, 3),
        "target": 0.9,
        "meets_target": ratio >= 0.9,
    }
    table = (f"| {args.size_mb} MB blob, local registry | MB/s (median of {args.rounds}) |\n|---|---|\n"
             f"| curl -o file | {results['curl_median_mb_per_s']} |\n"
             f"| modelrunner POST /models/create | {results['pull_median_mb_per_s']} |\n"
             f"| ratio (target >= 0.90) | {results['pull_over_curl']} |")
    write_results("distribution", results, table)


if __name__ == "__main__":
    main()
