"""`modelrunner run`: one answer, or a chat; the model is pulled first when missing."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelrunner.cli.chat import ChatSession, run_chat
from modelrunner.cli.client import RunnerClient
from modelrunner.cli.commands.models import pull_model
from modelrunner.cli.output import note, waiting
from modelrunner.cli.session import connect
from modelrunner.core.errors import ModelRunnerError, NotFound, RouteUnavailable

PRELOAD_HEADERS = {"X-Preload-Only": "true"}


def ensure_local(client: RunnerClient, model: str) -> None:
    try:
        client.get_json(f"/models/{model}")
    except NotFound:
        note(f"Model {model} is not in the store; pulling it.")
        try:
            pull_model(client, model)
        except RouteUnavailable:
            raise NotFound(f"model {model!r} is not in the store, and this runner cannot pull models") from None
        except ModelRunnerError as exc:
            message = f"model {model!r} is not in the store, and pulling it failed: {exc.message}"
            raise ModelRunnerError(message) from None


def read_piped_stdin() -> str:
    return "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()


def run(
    model: Annotated[str, typer.Argument(help="Model to run, e.g. ai/smollm2.")],
    prompt: Annotated[list[str] | None, typer.Argument(help="Prompt; without one, start a chat.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Load the model and return.")] = False,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Most tokens per answer.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, help="Sampling temperature (0: most likely).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print token counts and speed to stderr.")] = False,
) -> None:
    """Answer a prompt, or chat with a model when no prompt is given.

    Piped input is appended to the prompt.

    Example: modelrunner run ai/smollm2 "Say hi"

    Example: cat notes.txt | modelrunner run ai/smollm2 "Summarise this"
    """
    client = connect()
    ensure_local(client, model)
    if detach:
        with waiting(f"Loading {model}..."):
            client.post_json("/engines/v1/chat/completions", {"model": model, "messages": [
                {"role": "user", "content": ""}]}, headers=PRELOAD_HEADERS)
        note(f"Model {model} is loaded.")
        return
    session = ChatSession(client, model, max_tokens=max_tokens, temperature=temperature, verbose=verbose,
                          system=system)
    text = " ".join(prompt or [])
    piped = read_piped_stdin()
    if piped.strip():
        text = f"{text}\n\n{piped}" if text else piped
    if text.strip():
        session.stream_answer(text, [])
    elif sys.stdin is not None and sys.stdin.isatty():
        run_chat(session)
    else:
        raise typer.BadParameter("no prompt given and nothing on standard input", param_hint="PROMPT")
