"""Show the JSON-line progress of a pull or push: bars per layer on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from modelrunner.cli.output import is_terminal
from modelrunner.core.errors import ModelRunnerError


def _raise_if_error(event: dict[str, Any]) -> None:
    if event.get("type") == "error":
        raise ModelRunnerError(str(event.get("message") or "the transfer failed"))


def _plain(events: Iterator[dict[str, Any]]) -> str:
    """When piped: no bars, only the final message (on stdout) so scripts can read it."""
    final = ""
    for event in events:
        _raise_if_error(event)
        if event.get("type") == "success":
            final = str(event.get("message") or "")
    return final


def _bars(events: Iterator[dict[str, Any]]) -> str:
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    final = ""
    layer_tasks: dict[str, TaskID] = {}
    layer_done: dict[str, int] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        total_task: TaskID | None = None
        for event in events:
            _raise_if_error(event)
            if event.get("type") == "success":
                final = str(event.get("message") or "")
                continue
            layer = event.get("layer") or {}
            layer_id = str(layer.get("id") or "")
            if not layer_id:
                continue
            if total_task is None:
                total_task = progress.add_task("total", total=None)
            if layer_id not in layer_tasks:
                label = layer_id.removeprefix("sha256:")[:12]
                layer_tasks[layer_id] = progress.add_task(label, total=layer.get("size") or None)
            layer_done[layer_id] = int(layer.get("current") or 0)
            progress.update(layer_tasks[layer_id], completed=layer_done[layer_id])
            progress.update(total_task, total=event.get("total") or None, completed=sum(layer_done.values()))
    return final


def follow_transfer(events: Iterator[dict[str, Any]]) -> str:
    """Consume a transfer's events, raising on an error event; return the final success message."""
    return _bars(events) if is_terminal(sys.stderr) and is_terminal() else _plain(events)
