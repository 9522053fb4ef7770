"""Verbs about loaded runners: ps, df, unload, configure, logs."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from modelrunner.cli.output import format_age, format_bytes, print_json, print_table
from modelrunner.cli.session import connect
from modelrunner.core.errors import InvalidRequest

LOG_POLL_INTERVAL_S = 1.0


def _runner_state(runner: dict[str, Any]) -> str:
    if runner.get("loading"):
        return "loading"
    return "in use" if runner.get("in_use") else "idle"


def _keep_alive(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and value < 0:
        return "forever"
    return f"{value:g}s" if isinstance(value, (int, float)) else str(value)


def ps(as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False) -> None:
    """List the models loaded in memory.

    Example: modelrunner ps
    """
    runners = connect().get_json("/engines/ps")
    if as_json:
        print_json(runners)
        return
    rows = [[r.get("model_name", ""), r.get("backend_name", ""), r.get("mode", ""), _runner_state(r),
             format_age(r.get("last_used")), _keep_alive(r.get("keep_alive")),
             format_bytes((r.get("memory") or {}).get("total"))] for r in runners]
    print_table(("MODEL NAME", "BACKEND", "MODE", "STATE", "LAST USED", "KEEP ALIVE", "MEMORY"), rows)


def df(as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False) -> None:
    """Show the disk space used by models and by the inference engine.

    Example: modelrunner df
    """
    usage = connect().get_json("/engines/df")
    if as_json:
        print_json(usage)
        return
    print_table(("TYPE", "SIZE"), [["Models", format_bytes(usage.get("models_disk_usage"))],
                                   ["Inference engine", format_bytes(usage.get("default_backend_disk_usage"))]])


def unload(
    models: Annotated[list[str] | None, typer.Argument(help="Models to unload.")] = None,
    unload_all: Annotated[bool, typer.Option("--all", help="Unload every idle model.")] = False,
    backend: Annotated[str | None, typer.Option(help="Only runners of this backend.")] = None,
) -> None:
    """Unload models from memory (runners busy answering are left alone).

    Example: modelrunner unload --all
    """
    if not unload_all and not models:
        raise typer.BadParameter("name the models to unload, or give --all", param_hint="MODELS")
    body: dict[str, Any] = {"all": True} if unload_all else {"models": models}
    if backend:
        body["backend"] = backend
    result = connect().post_json("/engines/unload", body)
    count = int((result or {}).get("unloaded_runners", 0))
    print(f"Unloaded {count} runner{'s' if count != 1 else ''}.")


def _show_configurations(model: str | None, as_json: bool) -> None:
    configs = connect().get_json("/engines/_configure", model=model)
    if as_json:
        print_json(configs)
        return
    rows = [[c.get("model") or c.get("id", ""), c.get("context-size") or "", c.get("keep_alive") or "",
             "" if c.get("think") is None else ("on" if c["think"] else "off"),
             " ".join(c.get("runtime-flags") or [])] for c in configs]
    print_table(("MODEL NAME", "CONTEXT", "KEEP ALIVE", "THINK", "RUNTIME FLAGS"), rows)


def configure(
    words: Annotated[list[str], typer.Argument(
        help="MODEL [-- RUNTIME FLAGS...], or `show [MODEL]` to print stored settings.", metavar="MODEL")],
    context_size: Annotated[int | None, typer.Option(help="Context window in tokens (-1: the model's).")] = None,
    keep_alive: Annotated[str | None, typer.Option(help="How long an idle model stays loaded (5m, 0, -1).")] = None,
    think: Annotated[bool | None, typer.Option("--think/--no-think", help="Reasoning on or off.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
) -> None:
    """Set a model's context size, keep-alive, reasoning and llama.cpp flags; they survive restarts.

    Example: modelrunner configure ai/smollm2 --context-size 4096 -- --threads 4

    Example: modelrunner configure show
    """
    if words[0] == "show":
        _show_configurations(words[1] if len(words) > 1 else None, as_json)
        return
    model, runtime_flags = words[0], words[1:]
    body: dict[str, Any] = {"model": model}
    for key, value in (("context-size", context_size), ("keep_alive", keep_alive), ("think", think)):
        if value is not None:
            body[key] = value
    if runtime_flags:
        body["runtime-flags"] = runtime_flags
    if len(body) == 1:
        raise InvalidRequest("nothing to configure: give --context-size, --keep-alive, --think or -- FLAGS")
    result = connect().post_json("/engines/_configure", body)
    if as_json:
        print_json(result)
    else:
        print(f"Configured {model}.")


def _new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of `current` after the last line already printed (the log is a sliding window)."""
    if not previous:
        return current
    last = previous[-1]
    for index in range(len(current) - 1, -1, -1):
        if current[index] == last:
            return current[index + 1:]
    return current


def logs(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    tail: Annotated[int, typer.Option(min=0, help="Lines to show from each log.")] = 500,
    no_workers: Annotated[bool, typer.Option("--no-workers", help="Only the server's lines.")] = False,
) -> None:
    """Print the runner's recent log lines (and its workers').

    Example: modelrunner logs -f
    """
    client = connect()
    worker = "false" if no_workers else "true"
    shown: list[str] = []
    while True:
        lines = client.get_text("/logs", tail=tail, worker=worker).splitlines()
        fresh = _new_lines(shown, lines)
        if fresh:
            sys.stdout.write("\n".join(fresh) + "\n")
            sys.stdout.flush()
            shown = lines
        if not follow:
            return
        time.sleep(LOG_POLL_INTERVAL_S)


def register(app: typer.Typer) -> None:
    for command in (ps, df, unload, configure, logs):
        app.command()(command)
