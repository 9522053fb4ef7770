"""`modelrunner upstream add|ls|rm`: the OpenAI-compatible servers the runner fronts."""

from __future__ import annotations

from typing import Annotated, Any, Optional
from urllib.parse import quote

import typer

from modelrunner.cli.output import print_json, print_table
from modelrunner.cli.session import connect

app = typer.Typer(help="Front OpenAI-compatible servers (vLLM, SGLang, llama.cpp, another modelrunner).",
                  no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The model name clients will use, e.g. team/qwen3.")],
    url: Annotated[list[str], typer.Option("--url", help="An OpenAI-compatible base URL; repeat for replicas.")],
    model: Annotated[Optional[str], typer.Option(help="The model the upstream serves (default: the first "
                                                      "its /models lists).")] = None,
    api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", help="The NAME of the runner's "
                                                       "environment variable holding the upstream's key.")] = None,
    max_concurrency: Annotated[Optional[int], typer.Option("--max-concurrency", help="Requests at once per "
                                                           "replica.")] = None,
    context_size: Annotated[Optional[int], typer.Option("--context-size", help="The upstream's context in "
                                                        "tokens.")] = None,
    allow_unreachable: Annotated[bool, typer.Option("--allow-unreachable", help="Register replicas that do not "
                                                    "answer now; they start unhealthy.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
) -> None:
    """Register an upstream as a model.

    Example: modelrunner upstream add team/qwen3 --url http://10.0.0.5:8000/v1 --url http://10.0.0.6:8000/v1
    """
    body: dict[str, Any] = {"name": name, "urls": url, "allow_unreachable": allow_unreachable}
    for key, value in (("model", model), ("api_key_env", api_key_env), ("max_concurrency", max_concurrency),
                       ("context_size", context_size)):
        if value is not None:
            body[key] = value
    added = connect().post_json("/engines/upstreams", body)
    if as_json:
        print_json(added)
        return
    typer.echo(f"Added {added['name']}: {added['model']} on {len(added['replicas'])} replica(s)")


@app.command("ls")
def ls(as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False) -> None:
    """List the registered upstreams and their replicas.

    Example: modelrunner upstream ls
    """
    upstreams = connect().get_json("/engines/upstreams")["upstreams"]
    if as_json:
        print_json(upstreams)
        return
    rows = []
    for upstream in upstreams:
        for replica in upstream["replicas"]:
            health = replica.get("healthy")
            rows.append([upstream["name"], upstream["model"], replica["url"], replica.get("kind", ""),
                         "" if health is None else ("healthy" if health else "down"),
                         replica.get("in_flight", "")])
    print_table(("NAME", "MODEL", "URL", "KIND", "HEALTH", "IN FLIGHT"), rows)


@app.command("rm")
def rm(name: Annotated[str, typer.Argument(help="The upstream's name.")]) -> None:
    """Remove an upstream; requests streaming from it end with an error.

    Example: modelrunner upstream rm team/qwen3
    """
    connect().delete_json("/engines/upstreams/" + quote(name, safe="/"))
    typer.echo(f"Removed {name}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="upstream")
