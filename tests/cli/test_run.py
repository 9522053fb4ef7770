"""`modelrunner run` with a prompt: streamed answers, piped input, plain output, loading only."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.cli.conftest import Cli, cli_env
from tests.conftest import TINY_MODEL
from tests.support.server import RunningServer

USAGE = re.compile(r"prompt tokens: (\d+), answer tokens: (\d+)")


def usage_of(stderr: str) -> tuple[int, int]:
    match = USAGE.search(stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


def test_one_shot_answer_is_plain_text_on_stdout(cli: Cli) -> None:
    result = cli.ok("run", TINY_MODEL, "Say", "hello", "--max-tokens", "12", "--verbose")
    assert result.stdout.strip()
    assert result.stdout.endswith("\n")
    assert "\x1b[" not in result.stdout + result.stderr
    assert usage_of(result.stderr)[1] == 12


def test_piped_stdin_is_appended_to_the_prompt(cli: Cli) -> None:
    alone = usage_of(cli.ok("run", TINY_MODEL, "Review this", "--max-tokens", "2", "--verbose").stderr)[0]
    code = "def add(a, b):\n    return a + b\n" * 5
    with_code = usage_of(cli.ok("run", TINY_MODEL, "Review this", "--max-tokens", "2", "--verbose",
                                stdin=code).stderr)[0]
    assert with_code > alone + 40


def test_piped_stdin_alone_is_the_prompt(cli: Cli) -> None:
    result = cli.ok("run", TINY_MODEL, "--max-tokens", "3", "--verbose", stdin="hello from a pipe")
    assert usage_of(result.stderr)[1] == 3


def test_no_prompt_and_no_terminal_is_a_usage_error(cli: Cli) -> None:
    result = cli("run", TINY_MODEL)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "PROMPT" in result.stderr


def test_system_prompt_is_sent(cli: Cli) -> None:
    plain = usage_of(cli.ok("run", TINY_MODEL, "hi", "--max-tokens", "1", "--verbose").stderr)[0]
    with_system = usage_of(cli.ok("run", TINY_MODEL, "hi", "--max-tokens", "1", "--verbose",
                                  "--system", "You answer like a pirate.").stderr)[0]
    assert with_system > plain


def test_detach_loads_without_answering(cli: Cli, server: RunningServer) -> None:
    result = cli.ok("run", "--detach", TINY_MODEL)
    assert result.stdout == ""
    assert "loaded" in result.stderr
    assert httpx.get(server.url + "/").status_code == 200


def test_unknown_model_is_one_line(cli: Cli) -> None:
    result = cli("run", "ai/absent", "hi")
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("modelrunner:")]
    assert len(error_lines) == 1 and "ai/absent" in error_lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.default_model
def test_one_shot_on_the_default_model(default_model_server: RunningServer) -> None:
    result = Cli(cli_env(default_model_server.url)).ok("run", "ai/smollm2", "What color is the sky?",
                                                       "--max-tokens", "24", "--temperature", "0")
    assert "blue" in result.stdout, result.stdout
