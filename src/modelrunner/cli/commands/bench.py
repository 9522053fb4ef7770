"""`modelrunner bench`: throughput and latency of one model at several concurrency levels."""

from __future__ import annotations

import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from modelrunner.cli.client import RunnerClient, chunk_text
from modelrunner.cli.commands.run import ensure_local
from modelrunner.cli.output import is_terminal, print_json, print_table
from modelrunner.cli.session import connect
from modelrunner.core.errors import ModelRunnerError

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper."
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration_s(text: str) -> float:
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 30s, 2m or 500ms", param_hint="--duration")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or any(level < 1 for level in levels):
        raise typer.BadParameter(f"{text!r} is not a list of positive numbers like 1,2,4,8",
                                 param_hint="--concurrency")
    return levels


@dataclass
class RequestTiming:
    first_token_s: float
    total_s: float
    completion_tokens: int


@dataclass
class LevelResult:
    """What one concurrency level measured; `to_json` is the shape `--json` prints."""

    concurrency: int
    elapsed_s: float
    timings: list[RequestTiming] = field(default_factory=list)
    errors: int = 0

    def to_json(self) -> dict[str, Any]:
        tokens = sum(t.completion_tokens for t in self.timings)
        first_tokens_ms = [t.first_token_s * 1000 for t in self.timings]
        return {
            "concurrency": self.concurrency,
            "requests": len(self.timings),
            "errors": self.errors,
            "duration_s": round(self.elapsed_s, 3),
            "requests_per_s": round(len(self.timings) / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "output_tokens_per_s": round(tokens / self.elapsed_s, 2) if self.elapsed_s else 0.0,
            "ttft_ms_mean": round(statistics.fmean(first_tokens_ms), 1) if first_tokens_ms else None,
            "ttft_ms_p50": round(statistics.median(first_tokens_ms), 1) if first_tokens_ms else None,
            "ttft_ms_max": round(max(first_tokens_ms), 1) if first_tokens_ms else None,
        }


def timed_request(client: RunnerClient, body: dict[str, Any]) -> RequestTiming:
    started_s = time.monotonic()
    first_token_s: float | None = None
    usage: dict[str, int] = {}
    pieces = 0
    for chunk in client.stream_chat(body):
        usage.update(chunk.get("usage") or {})
        if chunk_text(chunk):
            pieces += 1
            if first_token_s is None:
                first_token_s = time.monotonic() - started_s
    total_s = time.monotonic() - started_s
    return RequestTiming(first_token_s if first_token_s is not None else total_s, total_s,
                         usage.get("completion_tokens", pieces))


def run_level(client: RunnerClient, body: dict[str, Any], concurrency: int, duration_s: float,
              on_tick: Any = None) -> LevelResult:
    """Keep `concurrency` requests in flight for `duration_s`; requests started before the end finish."""
    result = LevelResult(concurrency, 0.0)
    lock = threading.Lock()
    started_s = time.monotonic()
    deadline_s = started_s + duration_s

    def worker() -> None:
        own = client.copy()
        try:
            while time.monotonic() < deadline_s:
                try:
                    timing = timed_request(own, body)
                except ModelRunnerError:
                    with lock:
                        result.errors += 1
                    continue
                with lock:
                    result.timings.append(timing)
        finally:
            own.close()

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        while not all(future.done() for future in futures):
            if on_tick:
                on_tick(min(time.monotonic() - started_s, duration_s))
            time.sleep(0.2)
        for future in futures:
            future.result()
    result.elapsed_s = time.monotonic() - started_s
    return result


def run_levels(client: RunnerClient, body: dict[str, Any], levels: list[int], duration_s: float) -> list[LevelResult]:
    if not (is_terminal(sys.stderr) and is_terminal()):
        return [run_level(client, body, level, duration_s) for level in levels]
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        for level in levels:
            task = progress.add_task(f"concurrency {level}", total=duration_s)
            results.append(run_level(client, body, level, duration_s,
                                     on_tick=lambda done, task=task: progress.update(task, completed=done)))
            progress.update(task, completed=duration_s)
    return results


def bench(
    model: Annotated[str, typer.Argument(help="Model to measure.")],
    concurrency: Annotated[str, typer.Option(help="Comma-separated numbers of parallel requests.")] = "1,2,4,8",
    duration: Annotated[str, typer.Option(help="How long each level runs (30s, 2m, 500ms).")] = "30s",
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens per answer.")] = 128,
    prompt: Annotated[str, typer.Option(help="Prompt sent with every request.")] = DEFAULT_PROMPT,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure tokens per second, time to first token and requests per second at each concurrency.

    Example: modelrunner bench ai/smollm2 --concurrency 1,4 --duration 10s --json
    """
    levels, duration_s = parse_levels(concurrency), parse_duration_s(duration)
    client = connect()
    ensure_local(client, model)
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream_options": {"include_usage": True}}
    timed_request(client, body)  # loads the model, so the first level does not measure the load
    results = [result.to_json() for result in run_levels(client, body, levels, duration_s)]
    if as_json:
        print_json({"model": model, "max_tokens": max_tokens, "levels": results})
        return
    print_table(("CONCURRENCY", "REQUESTS", "ERRORS", "REQ/S", "TOKENS/S", "TTFT MEAN", "TTFT P50"),
                [[r["concurrency"], r["requests"], r["errors"], f"{r['requests_per_s']:.2f}",
                  f"{r['output_tokens_per_s']:.1f}", _ms(r["ttft_ms_mean"]), _ms(r["ttft_ms_p50"])]
                 for r in results])


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"
