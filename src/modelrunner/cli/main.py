"""The command-line entry point."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from modelrunner.settings import Settings

app = typer.Typer(
    name="modelrunner",
    help="Run open-weight models locally behind the Anthropic, OpenAI and Ollama APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """Run open-weight models locally behind the Anthropic, OpenAI and Ollama APIs."""


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (loopback by default).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on (env MODEL_RUNNER_PORT, default 12434).")] = None,
) -> None:
    """Start the runner in the foreground.

    Example: modelrunner serve --port 12434
    """
    from modelrunner.cli.serve import serve as run_server

    try:
        settings = Settings.from_environ().with_overrides(bind_host=host, port=port)
    except ValueError as exc:
        typer.echo(f"modelrunner: {exc}", err=True)
        raise typer.Exit(2) from None
    run_server(settings)


def main() -> None:
    app()
