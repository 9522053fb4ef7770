"""The JSON-line events of pull, push and package, in Docker Model Runner's shape:
`{"type": "progress"|"success"|"error", "message", "total", "pulled", "layer": {"id", "size", "current"}}`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

Event = dict[str, Any]
EmitEvent = Callable[[Event], None]


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} GB"


def progress_event(verb: str, done_bytes: int, total_bytes: int, layer_id: str, layer_size: int,
                   layer_done: int) -> Event:
    return {
        "type": "progress",
        "message": f"{verb}: {human_bytes(done_bytes)} of {human_bytes(total_bytes)}",
        "total": total_bytes,
        "pulled": done_bytes,
        "layer": {"id": layer_id, "size": layer_size, "current": layer_done},
    }


def message_event(message: str) -> Event:
    return {"type": "progress", "message": message}


def success_event(message: str, **extra: Any) -> Event:
    return {"type": "success", "message": message, **extra}


def error_event(message: str) -> Event:
    return {"type": "error", "message": message}


async def events_of(work: Callable[[EmitEvent], Awaitable[Event]]) -> AsyncIterator[Event]:
    """Run `work(emit)` and yield what it emits, then the event it returns. An exception it raises is
    raised here after the events emitted before it; closing the iterator cancels the work."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put_nowait))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
                continue
            getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            yield task.result()
            return
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
