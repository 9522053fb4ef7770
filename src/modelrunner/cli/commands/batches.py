"""`modelrunner batches`: the runner's Message Batches, listed, watched, read, canceled and deleted."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from modelrunner.cli.client import RunnerClient
from modelrunner.cli.output import is_terminal, print_json, print_table
from modelrunner.cli.session import connect

BATCHES_PATH = "/v1/messages/batches"
WATCH_INTERVAL_S = 0.5
COUNT_KINDS = ("succeeded", "errored", "canceled", "expired")

batches_app = typer.Typer(help="Message Batches: list, show (--watch), results, cancel, rm.",
                          no_args_is_help=True)


def _finished(batch: dict[str, Any]) -> int:
    counts = batch.get("request_counts") or {}
    return sum(int(counts.get(kind, 0)) for kind in COUNT_KINDS)


def _total(batch: dict[str, Any]) -> int:
    return _finished(batch) + int((batch.get("request_counts") or {}).get("processing", 0))


def _summary(batch: dict[str, Any]) -> str:
    counts = batch.get("request_counts") or {}
    return ", ".join(f"{counts.get(kind, 0)} {kind}" for kind in ("processing", *COUNT_KINDS))


@batches_app.command("ls")
def list_batches(
    limit: Annotated[int, typer.Option(help="How many batches, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
) -> None:
    """List message batches, newest first.

    Example: modelrunner batches ls
    """
    page = connect().get_json(BATCHES_PATH, limit=limit)
    if as_json:
        print_json(page)
        return
    rows = [[b["id"], b["processing_status"], f"{_finished(b)}/{_total(b)}", b.get("created_at") or "",
             b.get("ended_at") or ""] for b in page.get("data", [])]
    print_table(("ID", "STATUS", "DONE", "CREATED", "ENDED"), rows)


def _watch(client: RunnerClient, batch_id: str) -> dict[str, Any]:
    """Poll until the batch ends, with a progress bar on a terminal."""
    batch = client.get_json(f"{BATCHES_PATH}/{batch_id}")
    if not is_terminal(sys.stderr):
        while batch["processing_status"] != "ended":
            time.sleep(WATCH_INTERVAL_S)
            batch = client.get_json(f"{BATCHES_PATH}/{batch_id}")
        return batch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(batch_id, total=_total(batch), completed=_finished(batch))
        while batch["processing_status"] != "ended":
            time.sleep(WATCH_INTERVAL_S)
            batch = client.get_json(f"{BATCHES_PATH}/{batch_id}")
            progress.update(task, completed=_finished(batch), description=f"{batch_id} {batch['processing_status']}")
    return batch


@batches_app.command("show")
def show(
    batch_id: Annotated[str, typer.Argument(help="The batch ID (msgbatch_...).")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow the batch until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
) -> None:
    """Show one batch: status and request counts.

    Example: modelrunner batches show msgbatch_... --watch
    """
    client = connect()
    batch = _watch(client, batch_id) if watch else client.get_json(f"{BATCHES_PATH}/{batch_id}")
    if as_json:
        print_json(batch)
        return
    print(f"{batch['id']}  {batch['processing_status']}  ({_summary(batch)})")


@batches_app.command("results")
def results(batch_id: Annotated[str, typer.Argument(help="The batch ID (msgbatch_...).")]) -> None:
    """Print an ended batch's results as JSON lines, one per request.

    Example: modelrunner batches results msgbatch_... > results.jsonl
    """
    for line in connect().stream_lines("GET", f"{BATCHES_PATH}/{batch_id}/results"):
        if line.strip():
            sys.stdout.write(line + "\n")


@batches_app.command("cancel")
def cancel(batch_id: Annotated[str, typer.Argument(help="The batch ID (msgbatch_...).")]) -> None:
    """Cancel a batch: requests not yet run end as canceled.

    Example: modelrunner batches cancel msgbatch_...
    """
    batch = connect().post_json(f"{BATCHES_PATH}/{batch_id}/cancel")
    print(f"{batch['id']}  {batch['processing_status']}")


@batches_app.command("rm")
def remove(batch_ids: Annotated[list[str], typer.Argument(help="Ended batches to delete.")]) -> None:
    """Delete ended batches and their results.

    Example: modelrunner batches rm msgbatch_...
    """
    client = connect()
    for batch_id in batch_ids:
        client.delete_json(f"{BATCHES_PATH}/{batch_id}")
        print(f"Deleted {batch_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(batches_app, name="batches")
