"""`modelrunner context create|use|ls|rm|inspect`: the runners this CLI talks to, by name (Docker's
verbs). MODEL_RUNNER_HOST, when set, wins over the context in use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from modelrunner.cli.contexts import DEFAULT_CONTEXT, ContextFile, checked_context
from modelrunner.cli.output import print_json, print_table
from modelrunner.cli.session import load_settings

app = typer.Typer(help="Name the runners this command talks to (local, or a GPU box over TLS).",
                  no_args_is_help=True)


def _contexts() -> ContextFile:
    return ContextFile(load_settings().config_dir)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the runner, e.g. gpu-box.")],
    host: Annotated[str, typer.Option(help="The runner's URL, e.g. https://gpu-box:12434.")],
    api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", help="The NAME of the environment "
                                                       "variable holding that runner's API key.")] = None,
    ca_cert: Annotated[Optional[Path], typer.Option("--ca-cert", help="A CA certificate (PEM) to trust for "
                                                    "that runner's TLS.")] = None,
    description: Annotated[str, typer.Option(help="A note for `context ls`.")] = "",
) -> None:
    """Create a context.

    Example: modelrunner context create gpu-box --host https://gpu-box:12434 --api-key-env GPU_BOX_KEY
    """
    _contexts().add(checked_context(name, host, api_key_env, ca_cert, description))
    typer.echo(name)


@app.command("use")
def use(name: Annotated[str, typer.Argument(help=f"A context, or {DEFAULT_CONTEXT!r} for the local runner.")]) -> None:
    """Talk to this context's runner from now on.

    Example: modelrunner context use gpu-box
    """
    _contexts().use(name)
    typer.echo(f"Current context is now {name!r}")


@app.command("ls")
def ls(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the contexts; the one in use is marked with *.

    Example: modelrunner context ls
    """
    contexts = _contexts()
    settings = load_settings()
    local = {"name": DEFAULT_CONTEXT, "host": settings.runner_host, "api_key_env": None, "ca_cert": None,
             "description": "the local runner (MODEL_RUNNER_HOST)", "current": contexts.current == DEFAULT_CONTEXT}
    entries = [local, *({**context.to_api(), "current": context.name == contexts.current}
                        for context in contexts.contexts.values())]
    if as_json:
        print_json(entries)
        return
    print_table(("NAME", "HOST", "API KEY ENV", "DESCRIPTION"),
                [[entry["name"] + (" *" if entry["current"] else ""), entry["host"], entry["api_key_env"] or "",
                  entry["description"]] for entry in entries])


@app.command("rm")
def rm(name: Annotated[str, typer.Argument(help="The context's name.")]) -> None:
    """Remove a context (removing the one in use goes back to the local runner).

    Example: modelrunner context rm gpu-box
    """
    _contexts().remove(name)
    typer.echo(name)


@app.command("inspect")
def inspect(name: Annotated[Optional[str], typer.Argument(help="The context (default: the one in use).")] = None) -> None:
    """Show a context as JSON.

    Example: modelrunner context inspect gpu-box
    """
    contexts = _contexts()
    wanted = name or contexts.current
    if wanted == DEFAULT_CONTEXT:
        print_json({"name": DEFAULT_CONTEXT, "host": load_settings().runner_host, "current": contexts.current == wanted})
        return
    print_json({**contexts.get(wanted).to_api(), "current": contexts.current == wanted})


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="context")
