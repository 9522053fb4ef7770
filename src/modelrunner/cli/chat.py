"""The interactive chat of `modelrunner run MODEL`: a conversation kept in memory, answers streamed."""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from modelrunner.cli.client import RunnerClient, chunk_text
from modelrunner.cli.output import note, waiting
from modelrunner.core.errors import ModelRunnerError

PROMPT = ">>> "
CONTINUATION = "... "
FENCE = '"""'
HELP = """Commands:
  /set system TEXT   set the system prompt (no TEXT: remove it)
  /set max-tokens N  limit the length of answers (no N: no limit)
  /clear             forget the conversation so far
  /bye               leave (Ctrl-D works too)
  /?                 this help
Start and end a message with \"\"\" to write several lines. Ctrl-C stops an answer."""


def usage_line(usage: dict[str, int], elapsed_s: float) -> str:
    answer_tokens = usage.get("completion_tokens", 0)
    speed = answer_tokens / elapsed_s if elapsed_s > 0 else 0.0
    return f"prompt tokens: {usage.get('prompt_tokens', 0)}, answer tokens: {answer_tokens}, {speed:.1f} tokens/s"


@dataclass
class ChatSession:
    """One conversation with one model: the history is resent with every turn."""

    client: RunnerClient
    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    verbose: bool = False
    system: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def request_body(self, text: str) -> dict[str, Any]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        body: dict[str, Any] = {"model": self.model,
                                "messages": [*system, *self.history, {"role": "user", "content": text}]}
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.verbose:
            body["stream_options"] = {"include_usage": True}
        return body

    def stream_answer(self, text: str, pieces: list[str]) -> None:
        """Write the answer to stdout as it arrives, collecting it in `pieces`; a newline ends it."""
        usage: dict[str, int] = {}
        started_s = time.monotonic()
        chunks = self.client.stream_chat(self.request_body(text))
        try:
            with waiting(f"Waiting for {self.model}..."):
                first = next(chunks, None)
            for chunk in itertools.chain([first] if first else [], chunks):
                usage.update(chunk.get("usage") or {})
                piece = chunk_text(chunk)
                if piece:
                    pieces.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
        finally:
            chunks.close()
        if pieces and not pieces[-1].endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        if self.verbose:
            note(usage_line(usage, time.monotonic() - started_s))

    def answer(self, text: str) -> None:
        """One chat turn; Ctrl-C stops the answer and keeps what was said so far. A failed turn is
        reported in one line and left out of the history, so the chat goes on."""
        pieces: list[str] = []
        try:
            self.stream_answer(text, pieces)
        except KeyboardInterrupt:
            sys.stdout.write("\n[answer stopped]\n")
        except ModelRunnerError as exc:
            sys.stdout.flush()
            sys.stderr.write(f"\nerror: {exc.message}\n")
            pieces.clear()
        sys.stdout.write("\n")
        sys.stdout.flush()
        if pieces:
            self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": "".join(pieces)}]

    def set_option(self, option: str, value: str) -> None:
        value = value.strip()
        if option == "system":
            self.system = value or None
            print("System prompt set." if self.system else "System prompt removed.")
        elif option == "max-tokens" and (value.isdigit() or not value):
            self.max_tokens = int(value) if value and int(value) > 0 else None
            print(f"Answers stop after {self.max_tokens} tokens." if self.max_tokens else "Answers are not limited.")
        else:
            print("Usage: /set system TEXT | /set max-tokens [N]")

    def run_command(self, line: str) -> bool:
        """Handle a `/command`; return False when the chat should end."""
        name, _, argument = line.partition(" ")
        if name in ("/bye", "/exit"):
            return False
        if name == "/clear":
            self.history.clear()
            print("Conversation cleared.")
        elif name == "/set":
            self.set_option(*argument.partition(" ")[::2])
        elif name in ("/?", "/help"):
            print(HELP)
        else:
            print(f"Unknown command {name!r}; /? lists the commands.")
        return True


def read_message() -> str:
    """One message from the terminal: a line, or several between triple quotes. EOFError on Ctrl-D."""
    first = input(PROMPT)
    if not first.lstrip().startswith(FENCE):
        return first.strip()
    text = first.lstrip()[len(FENCE):]
    lines = []
    while not text.rstrip().endswith(FENCE):
        lines.append(text)
        text = input(CONTINUATION)
    lines.append(text.rstrip()[: -len(FENCE)])
    return "\n".join(lines).strip()


def run_chat(session: ChatSession) -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    print(f"Chatting with {session.model}. /? for help, /bye or Ctrl-D to leave.")
    while True:
        try:
            text = read_message()
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print("\nUse /bye or Ctrl-D to leave.")
            continue
        if not text:
            continue
        if text.startswith("/") and not text.startswith("//"):
            if not session.run_command(text):
                return
            continue
        session.answer(text)
