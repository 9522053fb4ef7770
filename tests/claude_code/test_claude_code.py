"""Claude Code itself (`@anthropic-ai/claude-code`, pinned in package.json beside this file and installed
by scripts/setup.sh --test) against a real runner serving the default model, SmolLM2-135M, with
`ANTHROPIC_BASE_URL` pointed at it, as a user would.

A recording proxy between the two keeps what Claude Code sent (model names, `max_tokens`, history) and
what came back, so the tests can assert on the wire, not only on what Claude Code prints.

Claude Code's default request (system prompt, tool set, reminders) is about 20k tokens, far beyond the
default model's 8192; `--bare` with a one-line `--system-prompt` and `--tools ""` makes it under 50.
It sends no temperature while extended thinking is on (its default), so the model's own sampling applies:
the runner is configured with `--temp 0`, and SmolLM2's greedy answers are the same every run.

Not tested here: a tool loop. Claude Code's main loop leaves `tool_choice` at auto, and SmolLM2-135M does
not call tools by itself: given Claude Code's Bash or Read tool and prompts asking for the call, it wrote
no call in 58 greedy tries (each a different prompt) and one, malformed, in 122 at temperature 1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.anthropic_stream import CheckedStream, check_stream, parse_sse
from tests.support.recording_proxy import Exchange, RecordingProxy
from tests.support.server import RunningServer

HERE = Path(__file__).parent
CONTEXT_SIZE = 8192
SMALL_REQUEST = ["--bare", "--system-prompt", "You are a helpful assistant.", "--tools", ""]
TOO_LONG = re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum")


def claude_binary() -> Path | None:
    """The native binary from the platform package npm chose; the wrapper package's postinstall only
    copies it over its own bin/claude.exe, and install scripts may be turned off."""
    for candidate in sorted((HERE / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude")):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class ClaudeRun:
    returncode: int
    output: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module")
def claude() -> Path:
    binary = claude_binary()
    if binary is None:
        pytest.fail("Claude Code is not installed: run scripts/setup.sh --test (needs npm)")
    return binary


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A runner of its own on a fresh store with the default model, its context at the default 8192."""
    env = {"MODEL_RUNNER_NO_DEFAULT_MODEL": "0", "MODEL_RUNNER_THREADS": "2", "MODEL_RUNNER_PARALLEL": "1",
           "MODEL_RUNNER_CONTEXT_SIZE": str(CONTEXT_SIZE)}
    with RunningServer(tmp_path_factory.mktemp("claude-code-store"),
                       tmp_path_factory.mktemp("logs") / "claude-code.log", env=env) as running:
        configured = httpx.post(running.url + "/engines/_configure", timeout=30,
                                json={"model": "ai/smollm2", "runtime-flags": ["--temp", "0"]})
        assert configured.status_code < 300, configured.text
        yield running


@pytest.fixture(scope="module")
def proxy(runner: RunningServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(runner.url) as running:
        yield running


def claude_environment(home: Path, base_url: str) -> dict[str, str]:
    """Only what Claude Code needs: nothing of the developer's own Claude configuration leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "placeholder",  # the runner has no key configured; --bare reads only this one
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def run_claude(command: list[str], home: Path, env: dict[str, str], runner: RunningServer,
               timeout_s: float = 120) -> ClaudeRun:
    project = home / "project"
    project.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout_s)
    try:
        output = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"Claude Code printed no JSON result (exit {done.returncode}):\n{done.stdout}\n"
                             f"{done.stderr}\n--- server log ---\n{runner.log()[-4000:]}") from None
    return ClaudeRun(done.returncode, output, done.stderr)


def checked(exchange: Exchange) -> CheckedStream:
    assert exchange.status == 200, exchange.response[:2000]
    return check_stream(parse_sse(exchange.response))


@dataclass
class Conversation:
    turns: list[ClaudeRun]
    requests: list[Exchange]


@pytest.fixture(scope="module")
def conversation(claude: Path, runner: RunningServer, proxy: RecordingProxy,
                 tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    """Two turns of one session: a Sonnet name, then `--continue` under the Haiku name Claude Code uses
    for its background calls."""
    home = tmp_path_factory.mktemp("claude-home")
    env = claude_environment(home, proxy.url)
    proxy.clear()
    first = run_claude([str(claude), *SMALL_REQUEST, "--model", "claude-sonnet-4-5", "--output-format", "json",
                        "-p", "Hello! My name is Ada."], home, env, runner)
    second = run_claude([str(claude), *SMALL_REQUEST, "--model", "claude-haiku-4-5", "--output-format", "json",
                         "--continue", "-p", "What is my name?"], home, env, runner)
    return Conversation([first, second], proxy.requests_to("/v1/messages"))


def test_each_turn_succeeds_with_an_answer(conversation: Conversation) -> None:
    for turn in conversation.turns:
        assert turn.returncode == 0, (turn.output, turn.stderr)
        assert turn.output["is_error"] is False and turn.output["subtype"] == "success"
        assert turn.output["result"].strip()
        assert turn.output["stop_reason"] == "end_turn"


def test_claude_names_are_served_by_the_default_model(conversation: Conversation, runner: RunningServer) -> None:
    assert [request.body["model"] for request in conversation.requests] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    for request, turn in zip(conversation.requests, conversation.turns, strict=True):
        stream = checked(request)
        assert stream.message["model"] == request.body["model"]  # the name asked for, echoed
        assert stream.text == turn.output["result"]
    log = runner.log()
    assert "loaded ai/smollm2:135M-Q4_1" in log
    assert "POST /v1/messages 200 model=claude-sonnet-4-5 served_by=ai/smollm2:135M-Q4_1" in log
    assert "POST /v1/messages 200 model=claude-haiku-4-5 served_by=ai/smollm2:135M-Q4_1" in log
    loaded = httpx.get(runner.url + "/engines/ps", timeout=10).json()
    assert [runner_row["model_name"] for runner_row in loaded] == ["ai/smollm2:135M-Q4_1"]


def test_the_second_turn_carries_the_first(conversation: Conversation) -> None:
    first, second = conversation.requests
    history = second.body["messages"]
    assert [message["role"] for message in history] == ["user", "assistant", "user"]
    assert "My name is Ada." in json.dumps(history[0]["content"])
    assert "".join(block["text"] for block in history[1]["content"]) == checked(first).text
    # The slot's prefix cache serves the whole first prompt again: the second turn pays only for what is new.
    first_usage, second_usage = checked(first).usage, checked(second).usage
    first_prompt_tokens = first_usage["input_tokens"] + first_usage["cache_read_input_tokens"]
    assert second_usage["cache_read_input_tokens"] >= first_prompt_tokens


def test_max_tokens_beyond_the_context_is_clamped(conversation: Conversation) -> None:
    """Claude Code asks for 32000 output tokens; the runner answers within its 8192 context."""
    for request in conversation.requests:
        assert request.body["max_tokens"] > CONTEXT_SIZE
        assert request.body["stream"] is True
        assert checked(request).stop_reason == "end_turn"


def test_the_full_default_prompt_is_refused_as_too_long(claude: Path, runner: RunningServer,
                                                        proxy: RecordingProxy, tmp_path: Path) -> None:
    """Claude Code's own system prompt and tools are ~20k tokens: Anthropic's 400, which Claude Code
    reports in one clear line instead of retrying or hanging."""
    proxy.clear()
    run = run_claude([str(claude), "--model", "claude-sonnet-4-5", "--output-format", "json", "-p", "Say hello"],
                     tmp_path, claude_environment(tmp_path, proxy.url), runner, timeout_s=90)
    [request] = proxy.requests_to("/v1/messages")
    assert request.status == 400
    error = request.response_json
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    match = TOO_LONG.fullmatch(error["error"]["message"])
    assert match is not None, error
    prompt_tokens, maximum = map(int, match.groups())
    assert maximum == CONTEXT_SIZE < prompt_tokens
    assert run.returncode != 0
    assert run.output["is_error"] is True and run.output["api_error_status"] == 400
    assert run.output["result"].startswith("Prompt is too long")
    assert f"limit {CONTEXT_SIZE}" in run.output["result"]


def test_launch_claude_runs_claude_code_on_the_runner(claude: Path, runner: RunningServer,
                                                      proxy: RecordingProxy, tmp_path: Path) -> None:
    """`modelrunner launch claude` with the real binary on PATH: every model tier is the runner's model."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").symlink_to(claude)
    env = {**claude_environment(tmp_path, proxy.url), "MODEL_RUNNER_HOST": proxy.url,
           "MODEL_RUNNER_NO_AUTOSTART": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    del env["ANTHROPIC_BASE_URL"]  # launch sets it from MODEL_RUNNER_HOST
    proxy.clear()
    launch = [sys.executable, "-m", "modelrunner", "launch", "claude", "--"]
    run = run_claude([*launch, *SMALL_REQUEST, "--output-format", "json", "-p", "Hello! My name is Ada."],
                     tmp_path, env, runner)
    assert run.returncode == 0, (run.output, run.stderr)
    assert run.output["is_error"] is False and run.output["result"].strip()
    [request] = proxy.requests_to("/v1/messages")
    assert request.body["model"] == "ai/smollm2"
    assert request.body["max_tokens"] == CONTEXT_SIZE // 8  # launch's answer budget, which Claude Code took
    assert checked(request).text == run.output["result"]
