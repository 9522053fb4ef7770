"""The interactive chat, driven through a pseudo-terminal as a person would use it."""

from __future__ import annotations

import re

import pexpect

from tests.cli.conftest import COMMAND, cli_env
from tests.conftest import TINY_MODEL
from tests.support.server import RunningServer

PROMPT = ">>> "
USAGE = re.compile(r"prompt tokens: (\d+), answer tokens: (\d+)")


def start_chat(server: RunningServer, *args: str) -> pexpect.spawn:
    chat = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "run", TINY_MODEL, "--verbose", *args],
                         env=cli_env(server.url), encoding="utf-8", timeout=60, dimensions=(40, 200))
    chat.expect("Chatting with ai/tiny")
    chat.expect_exact(PROMPT)
    return chat


def wait_for_answer(chat: pexpect.spawn) -> tuple[int, int]:
    """Wait for the whole answer and the next prompt; return (prompt tokens, answer tokens)."""
    chat.expect(USAGE)
    usage = int(chat.match.group(1)), int(chat.match.group(2))
    chat.expect_exact(PROMPT)
    return usage


def say(chat: pexpect.spawn, text: str) -> tuple[int, int]:
    chat.sendline(text)
    return wait_for_answer(chat)


def test_chat_keeps_history_takes_a_system_prompt_and_multiline_input(long_answer_server: RunningServer) -> None:
    chat = start_chat(long_answer_server, "--max-tokens", "8")
    first_prompt, first_answer = say(chat, "hello there")
    assert first_answer == 8
    second_prompt, second_answer = say(chat, "tell me more")
    assert second_prompt > first_prompt + first_answer

    chat.sendline("/set system You are a pirate who answers in rhymes.")
    chat.expect_exact("System prompt set.")
    chat.expect_exact(PROMPT)
    third_prompt, _ = say(chat, "hello there")
    assert third_prompt > second_prompt + second_answer + 8  # the history is kept, the system prompt added

    chat.sendline("/clear")
    chat.expect_exact("Conversation cleared.")
    chat.expect_exact(PROMPT)
    with_system_only, _ = say(chat, "hello there")
    assert first_prompt + 8 < with_system_only < third_prompt

    chat.sendline("/clear")
    chat.expect_exact(PROMPT)
    chat.sendline('"""first line')
    chat.expect_exact("... ")
    chat.sendline("second line")
    chat.expect_exact("... ")
    chat.sendline('third line"""')
    multiline_prompt, _ = wait_for_answer(chat)
    chat.sendline("/clear")
    chat.expect_exact(PROMPT)
    single_line_prompt, _ = say(chat, "first line")
    assert multiline_prompt > single_line_prompt

    chat.sendline("/bye")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_ctrl_c_stops_the_answer_and_the_chat_goes_on(long_answer_server: RunningServer) -> None:
    chat = start_chat(long_answer_server)
    chat.sendline("write forever")
    chat.expect(r"\S{8}")
    chat.sendintr()
    chat.expect_exact("[answer stopped]")
    chat.expect_exact(PROMPT)
    chat.sendline("/set max-tokens 4")
    chat.expect_exact("Answers stop after 4 tokens.")
    chat.expect_exact(PROMPT)
    prompt_tokens, answer_tokens = say(chat, "and now briefly")
    assert answer_tokens == 4
    chat.sendeof()
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_ctrl_c_at_the_prompt_does_not_leave(long_answer_server: RunningServer) -> None:
    chat = start_chat(long_answer_server, "--max-tokens", "4")
    chat.sendintr()
    chat.expect_exact("Use /bye or Ctrl-D to leave.")
    chat.expect_exact(PROMPT)
    chat.sendline("/nonsense")
    chat.expect_exact("Unknown command '/nonsense'")
    chat.sendline("/bye")
    chat.expect(pexpect.EOF)


def test_a_failed_turn_is_one_line_and_the_chat_goes_on(server: RunningServer) -> None:
    chat = start_chat(server, "--max-tokens", "4")
    chat.sendline('"""')
    for _ in range(12):
        chat.expect_exact("... ")
        chat.sendline("word " * 400)
    chat.expect_exact("... ")
    chat.sendline('"""')
    chat.expect(r"error: [^\r\n]*too long")
    chat.expect_exact(PROMPT)
    prompt_tokens, answer_tokens = say(chat, "hello there")
    assert answer_tokens == 4 and prompt_tokens < 100
    chat.sendline("/bye")
    chat.expect(pexpect.EOF)


def test_a_spinner_shows_until_the_first_token_on_a_terminal(server: RunningServer) -> None:
    terminal = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "run", TINY_MODEL, "hi", "--max-tokens", "4"],
                             env=cli_env(server.url), encoding="utf-8", timeout=60)
    terminal.expect_exact("Waiting for ai/tiny...")
    terminal.expect(pexpect.EOF)
