"""Verbs about the runner itself: version, status."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelrunner import __version__
from modelrunner.cli.client import RunnerClient
from modelrunner.cli.output import print_json
from modelrunner.cli.session import connect
from modelrunner.core.errors import RouteUnavailable


def version(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the version of this command and of the runner it talks to.

    Example: modelrunner version
    """
    client = connect(autostart=False)
    server_version: str | None = None
    if client.is_running():
        server_version = client.get_json("/version").get("version")
    if as_json:
        print_json({"client": __version__, "server": server_version, "host": client.base_url})
        return
    print(f"Client: modelrunner {__version__}")
    print(f"Server: modelrunner {server_version}" if server_version else f"Server: not running at {client.base_url}")


def _engine_statuses(client: RunnerClient) -> dict[str, Any]:
    try:
        statuses = client.get_json("/engines/status")
    except RouteUnavailable:
        return {}
    return statuses if isinstance(statuses, dict) else {"engines": statuses}


def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Say whether the runner is running, and the state of each engine. Never starts one.

    Example: modelrunner status
    """
    client = connect(autostart=False)
    running = client.is_running()
    engines = _engine_statuses(client) if running else {}
    if as_json:
        print_json({"running": running, "host": client.base_url, "engines": engines})
    else:
        print(f"modelrunner is {'running' if running else 'not running'} at {client.base_url}")
        for name, state in engines.items():
            print(f"{name}: {state}")
    if not running:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(version)
    app.command()(status)
