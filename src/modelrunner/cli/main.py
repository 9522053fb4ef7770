"""The command-line entry point."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from modelrunner.cli.commands import batches, bench, engines, launch, models, run, system
from modelrunner.cli.commands import context, launch_tools, requests, upstream
from modelrunner.core.errors import ModelRunnerError
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
    tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM; "
                                                     "env MODEL_RUNNER_TLS_CERT).")] = None,
    tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="The certificate's private key (PEM; "
                                                    "env MODEL_RUNNER_TLS_KEY).")] = None,
) -> None:
    """Start the runner in the foreground.

    Example: modelrunner serve --port 12434
    """
    from modelrunner.cli.serve import check_tls_files, serve as run_server

    try:
        settings = Settings.from_environ().with_overrides(bind_host=host, port=port, tls_cert_path=tls_cert,
                                                           tls_key_path=tls_key)
        check_tls_files(settings)
    except ValueError as exc:
        typer.echo(f"modelrunner: {exc}", err=True)
        raise typer.Exit(2) from None
    run_server(settings)


app.command()(run.run)
models.register(app)
engines.register(app)
app.command()(bench.bench)
launch.register(app)
launch_tools.register(launch.launch_app)
system.register(app)
batches.register(app)
requests.register(app)
upstream.register(app)
context.register(app)


def _fail(message: str, status: int) -> None:
    sys.stderr.write(f"modelrunner: {message}\n")
    sys.exit(status)


def _usage_message(exc: typer.TyperException) -> str:
    """A bad flag or argument, in one line that points at the verb's help."""
    context = getattr(exc, "ctx", None)
    command = context.command_path if context else "modelrunner"
    formatter = getattr(exc, "format_message", None)
    return f"{formatter() if formatter else exc} (see `{command} --help`)"


def main() -> None:
    """Run the command; every failure is one line on stderr and a non-zero exit status."""
    try:
        status = app(prog_name="modelrunner", standalone_mode=False)
    except ModelRunnerError as exc:
        _fail(exc.message, 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if not str(exc):
            sys.exit(2)  # no arguments at all: the help was printed, nothing more to say
        _fail(_usage_message(exc), getattr(exc, "exit_code", 2) or 2)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
