"""Instructions per request, counted: modelrunner's app and the minimal relay (`relay_floor.py`), each
called in process (no uvicorn, no client) for a small Messages request to the tiny model's engine, run
under valgrind's cachegrind.

Rates and CPU times on this shared 2-core machine swing by 10-20% from one run to the next, which hides
any single change to the request path. Instruction counts swing far less (a few percent: what runs by the
clock, not by the request, such as timers and the worker log's poll, still varies), so a change of 5% or
more can be told from the code before it, on any machine with valgrind. Each target
runs twice, with `--requests` and with four times as many; the difference, divided by the extra requests,
is the cost of one request with start-up and warm-up taken out. The engine runs in its own process,
which cachegrind does not trace.

    .venv/bin/python bench/instructions.py [--requests 100] [--baseline-src DIR]

With `--baseline-src DIR` (another checkout's `src`, say `git archive main src`), modelrunner on that
code is counted too, as "modelrunner (before)": the exact cost of a change.

Writes bench/results/instructions.json and .md. Needs `valgrind` on the PATH (Debian: `apt install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from harness import REPO, DirectEngine, tiny_store, write_results

ASK = [{"role": "user", "content": "Say hello."}]
BODY = {"model": "ai/tiny", "max_tokens": 8, "temperature": 0, "messages": ASK}
WARM_REQUESTS = 20
TARGETS = ("modelrunner", "relay floor")
BEFORE = "modelrunner (before)"
EVENTS = {"Ir": "instructions", "I1mr": "L1 instruction misses", "D1mr": "L1 data read misses"}
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def post_messages(app: App, body: bytes) -> None:
    """One POST /v1/messages through `app`, as uvicorn would call it; its answer must be a 200."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:12434"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 12434), "state": {}}
    answered = asyncio.Event()
    sent: list[dict[str, Any]] = []
    is_body_read = False

    async def receive() -> dict[str, Any]:
        nonlocal is_body_read
        if not is_body_read:
            is_body_read = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"answered {sent[0]['status']}: {b''.join(m.get('body', b'') for m in sent[1:])!r}")


async def serve_modelrunner(store: Path, requests: int) -> None:
    from modelrunner.server.app import create_app
    from modelrunner.settings import Settings

    settings = Settings.from_environ({"MODELS_PATH": str(store), "MODEL_RUNNER_THREADS": "1",
                                      "MODEL_RUNNER_CONTEXT_SIZE": "8192", "MODEL_RUNNER_NO_DEFAULT_MODEL": "1",
                                      "MODEL_RUNNER_LOG_LEVEL": "WARNING"})
    app = create_app(settings)
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                       to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    try:
        await _post_many(app, requests)
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await lifespan


async def serve_relay(engine_url: str, requests: int) -> None:
    from relay_floor import EngineLink, relay

    await _post_many(relay(EngineLink(engine_url, slots=4)), requests)


async def _post_many(app: App, requests: int) -> None:
    body = orjson.dumps(BODY)
    for _ in range(WARM_REQUESTS + requests):
        await post_messages(app, body)


def serve(target: str, requests: int) -> None:
    """The process cachegrind runs: one target, `requests` requests after the warm-up."""
    import uvloop

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store, _ = tiny_store(tmp, context_length=8192)
        if target == "modelrunner":
            uvloop.run(serve_modelrunner(store, requests))
            return
        engine = DirectEngine(tmp / "tiny.gguf", context_size=8192, slots=4, threads=1)
        try:
            uvloop.run(serve_relay(engine.url, requests))
        finally:
            engine.stop()


def counted(target: str, requests: int, out: Path, src: Path) -> dict[str, int]:
    """The event totals of one cachegrind run of `serve(target, requests)` on the code in `src`."""
    run = subprocess.run(["valgrind", "-q", "--tool=cachegrind", "--cache-sim=yes", f"--cachegrind-out-file={out}",
                          sys.executable, __file__, "--serve", target, "--requests", str(requests)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(src.resolve())})
    if run.returncode != 0:
        raise RuntimeError(f"{target} on {src} failed under valgrind:\n{run.stderr[-4000:]}")
    text = out.read_text()
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    summary = re.search(r"^summary: (.+)$", text, re.MULTILINE)
    if events is None or summary is None:
        raise RuntimeError(f"no summary in {out}")
    return dict(zip(events.group(1).split(), map(int, summary.group(1).split())))


def per_request(requests: int, work: Path, baseline_src: Path | None) -> dict[str, dict[str, float]]:
    runs = [(target, target, REPO / "src") for target in TARGETS]
    if baseline_src is not None:
        runs.append((BEFORE, "modelrunner", baseline_src))
    results = {}
    for name, target, src in runs:
        few = counted(target, requests, work / f"{name}-few.out", src)
        many = counted(target, 4 * requests, work / f"{name}-many.out", src)
        results[name] = {event: (many[event] - few[event]) / (3 * requests) for event in EVENTS}
    return results


def table(results: dict[str, Any]) -> str:
    floor = results["per_request"]["relay floor"]
    rows = ["| target | " + " | ".join(EVENTS.values()) + " |", "|---|" + "---|" * len(EVENTS)]
    for target, counts in results["per_request"].items():
        rows.append(f"| {target} | " + " | ".join(
            f"{counts[event]:,.0f} ({counts[event] / floor[event]:.1f}x)" for event in EVENTS) + " |")
    return (f"Per request, in process (no uvicorn, no client), a non-streamed Messages request for 8 tokens of "
            f"the tiny model; the difference between {results['requests']} and {4 * results['requests']} "
            "requests under cachegrind, so start-up and warm-up are left out. In brackets: the multiple of the "
            "relay floor's.\n\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--baseline-src", type=Path, help="a checkout's src folder to count beside this code")
    parser.add_argument("--serve", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.requests)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: this bench counts instructions with its cachegrind tool")
    with tempfile.TemporaryDirectory() as work:
        results = {"requests": args.requests, "baseline_src": str(args.baseline_src) if args.baseline_src else None,
                   "per_request": per_request(args.requests, Path(work), args.baseline_src)}
    write_results("instructions", results, table(results))


if __name__ == "__main__":
    main()
