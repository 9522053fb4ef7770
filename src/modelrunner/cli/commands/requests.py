"""`modelrunner requests`: the exchanges the runner recorded, what was sent and what the model saw."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any
from urllib.parse import quote

import typer

from modelrunner.cli.client import RunnerClient
from modelrunner.cli.output import is_terminal, note
from modelrunner.cli.session import connect
from modelrunner.core.errors import NotFound

HEADERS = ("TIME", "API", "MODEL", "ROUTE", "STATUS", "IN", "OUT", "TTFT", "TOK/S", "DURATION")
FOLLOW_WIDTHS = (8, 9, 22, 22, 6, 6, 5, 8, 6, 8)


def _milliseconds(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _row(record: dict[str, Any]) -> list[str]:
    usage = record.get("usage") or {}
    timings = record.get("timings") or {}
    model = record.get("model") or "-"
    served = record.get("served_model")
    if served and served != model and not served.startswith(f"{model}:"):
        model = f"{model} → {served}"
    status = str(record.get("status") or "-") + (" ⚠" if record.get("error") else "")
    speed = timings.get("tokens_per_s")
    return [
        time.strftime("%H:%M:%S", time.localtime(record.get("started_at") or 0)),
        record.get("api", ""), model, record.get("route", ""), status,
        str(usage.get("input_tokens", "-")), str(usage.get("output_tokens", "-")),
        _milliseconds(timings.get("ttft_ms")), "-" if speed is None else f"{speed:.1f}",
        _milliseconds(timings.get("duration_ms")),
    ]


def _whole(client: RunnerClient, record: dict[str, Any]) -> dict[str, Any]:
    """A listed chat record leaves its prompt to be rendered when it is read by id: read it so."""
    if not record.get("prompt_on_read"):
        return record
    try:
        whole: dict[str, Any] = client.get_json(f"/engines/requests/{quote(str(record['id']), safe='')}")
    except NotFound:
        return record  # evicted meanwhile: print what was listed
    return whole


def _print_json_line(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _print_table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*HEADERS, box=None, header_style="bold cyan", pad_edge=False)
    for record in records:
        table.add_row(*_row(record), style="red" if record.get("error") else None)
    Console().print(table)


def _print_followed_row(record: dict[str, Any]) -> None:
    from rich.console import Console

    Console().print(_fixed(_row(record)), style="red" if record.get("error") else None, highlight=False)


def _fixed(cells: Any) -> str:
    """Followed rows come one at a time, so they share fixed widths instead of a measured table."""
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, FOLLOW_WIDTHS, strict=True)).rstrip()


def requests(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's requests.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Print each new exchange as it completes.")] = False,
    limit: Annotated[int, typer.Option(help="How many recent requests to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line (the default when piped).")] = False,
) -> None:
    """Show the requests the runner recorded: what was sent, what the model saw, tokens and timings.

    Example: modelrunner requests --model ai/smollm2 --follow
    """
    client = connect()
    lines = as_json or not is_terminal()
    if not follow:
        records = client.get_json("/engines/requests", model=model, limit=limit).get("requests", [])
        if lines:
            for record in records:
                _print_json_line(_whole(client, record))
        else:
            _print_table(records)
        return
    is_following = False
    for record in client.stream_events("/engines/requests", model=model):
        if record is None:
            if not is_following:
                note("Following new requests (Ctrl-C to stop)…")
                if not lines:
                    from rich.console import Console

                    Console().print(_fixed(HEADERS), style="bold cyan")
                is_following = True
        elif lines:
            _print_json_line(_whole(client, record))
        else:
            _print_followed_row(record)


def register(app: typer.Typer) -> None:
    app.command()(requests)
