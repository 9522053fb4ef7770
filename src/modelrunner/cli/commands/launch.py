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
# Claude Code keeps min(max output, 20000) of the window for the answer and compacts 13000 tokens below
# what is left; for a model name it does not know, its max output is 32000, which leaves nothing of a
# small window (it then refuses every prompt itself). An eighth of the context answers and leaves room.
ANSWER_SHARE_OF_CONTEXT = 8
ANSWER_TOKENS_CEILING = 32000
# A value the user chose in their own environment wins over launch's default for it.
USER_OVERRIDABLE = frozenset({"CLAUDE_CODE_MAX_OUTPUT_TOKENS"})

launch_app = typer.Typer(help="Run a coding tool wired to the local runner.", no_args_is_help=True)


def claude_environment(base_url: str, model: str, api_key: str | None,
                       context_window: int | None = None) -> dict[str, str]:
    """The variables that point Claude Code at the runner (names as the pinned Claude Code reads them):
    every model tier and subagents on `model`, no attribution header (it changes the system prompt
    every turn, which defeats the prefix cache), and the model's context as Claude Code's window for a
    model name it does not know (CLAUDE_CODE_MAX_CONTEXT_TOKENS; CLAUDE_CODE_AUTO_COMPACT_WINDOW reads
    anything under 100k as 100k) with an answer budget that leaves it room to compact in."""
    environment = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_AUTH_TOKEN": api_key or PLACEHOLDER_TOKEN,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_FABLE_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "CLAUDE_CODE_SUBAGENT_MODEL": model,
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    if context_window is not None:
        environment["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(context_window)
        environment["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(answer_budget(context_window))
    return environment


def answer_budget(context_window: int) -> int:
    """The max output Claude Code asks for: an eighth of the context, at most Claude Code's own default."""
    return max(1, min(ANSWER_TOKENS_CEILING, context_window // ANSWER_SHARE_OF_CONTEXT))


def child_environment(environment: dict[str, str], inherited: dict[str, str]) -> dict[str, str]:
    """What claude runs with: our whole environment (PATH, HOME, terminal) plus the runner's variables,
    except those the user already chose a value for."""
    return {**inherited, **{name: value for name, value in environment.items()
                            if not (name in USER_OVERRIDABLE and name in inherited)}}


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
    child = child_environment(environment, dict(os.environ))
    if dry_run or executable is None:
        for name in environment:
            print(f"export {name}={shlex.quote(child[name])}")
        return
    completed = subprocess.run([executable, *context.args], env=child, check=False)
    raise typer.Exit(completed.returncode)


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
