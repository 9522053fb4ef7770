"""`modelrunner launch claude`: run Claude Code against the local runner instead of Anthropic's API."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import Annotated

import typer

from modelrunner.cli.client import RunnerClient
from modelrunner.cli.session import connect, load_settings
from modelrunner.core.errors import NotFound

PLACEHOLDER_TOKEN = "modelrunner"
CLAUDE_INSTALL_HINT = "install it with `npm install -g @anthropic-ai/claude-code`"

launch_app = typer.Typer(help="Run a coding tool wired to the local runner.", no_args_is_help=True)


def claude_environment(base_url: str, model: str, api_key: str | None,
                       context_window: int | None = None) -> dict[str, str]:
    """The variables that point Claude Code at the runner (names as the pinned Claude Code reads them):
    every model tier and subagents on `model`, no attribution header (it changes the system prompt
    every turn, which defeats the prefix cache) and auto-compaction at the model's context."""
    environment = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_AUTH_TOKEN": api_key or PLACEHOLDER_TOKEN,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "CLAUDE_CODE_SUBAGENT_MODEL": model,
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    if context_window is not None:
        environment["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(context_window)
    return environment


def context_window(client: RunnerClient, model: str) -> int:
    """The context `model` loads with (configured, packaged or the server's default)."""
    [entry] = client.get_json("/engines/_configure", model=model)
    return int(entry["context-window"])


@launch_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def claude(
    context: typer.Context,
    model: Annotated[str | None, typer.Option(help="Model for every Claude tier (default: the runner's).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the environment instead of running.")] = False,
) -> None:
    """Run Claude Code with the runner as its API; arguments after `--` go to claude.

    Example: modelrunner launch claude --model ai/qwen3 -- -p "explain this repo"

    Example: modelrunner launch claude --dry-run
    """
    settings = load_settings()
    executable = shutil.which("claude")
    if executable is None and not dry_run:
        raise NotFound(f"Claude Code (`claude`) is not on PATH; {CLAUDE_INSTALL_HINT}")
    chosen = model or settings.default_model
    client = connect()
    try:
        window = context_window(client, chosen)
    finally:
        client.close()
    environment = claude_environment(settings.runner_host, chosen, settings.api_key, window)
    if dry_run or executable is None:
        for name, value in environment.items():
            print(f"export {name}={shlex.quote(value)}")
        return
    # The child needs our whole environment (PATH, HOME, terminal) plus the runner's address.
    completed = subprocess.run([executable, *context.args], env={**os.environ, **environment}, check=False)
    raise typer.Exit(completed.returncode)


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
