"""Claude Code in its default mode (its own system prompt and full tool set, no `--bare`) against the
default model configured for a 32k context: SmolLM2 was trained on 8192 tokens, Claude Code's first
request is about 20k, so the runner loads it with YaRN RoPE scaling. Two turns of one session through
the recording proxy: each completes without an API error, and the `--continue` turn is served from the
prefix cache. One such test only: prompt processing of ~20k tokens on two CPU cores takes a while."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.claude_code.test_claude_code import (
    ClaudeRun,
    checked,
    claude_binary,
    claude_environment,
    run_claude,
)
from tests.support.recording_proxy import Exchange, RecordingProxy
from tests.support.server import RunningServer

CONTEXT_SIZE = 32768
TRAINED_CONTEXT = 8192
TURN_TIMEOUT_S = 900

pytestmark = [pytest.mark.slow, pytest.mark.default_model, pytest.mark.timeout(2 * TURN_TIMEOUT_S + 300)]


@pytest.fixture(scope="module")
def long_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"MODEL_RUNNER_NO_DEFAULT_MODEL": "0", "MODEL_RUNNER_THREADS": "2", "MODEL_RUNNER_PARALLEL": "1"}
    with RunningServer(tmp_path_factory.mktemp("claude-code-32k-store"),
                       tmp_path_factory.mktemp("logs") / "claude-code-32k.log", env=env) as running:
        configured = httpx.post(running.url + "/engines/_configure", timeout=30, json={
            "model": "ai/smollm2", "context-size": CONTEXT_SIZE, "runtime-flags": ["--temp", "0"]})
        assert configured.status_code < 300, configured.text
        yield running


def test_default_mode_turns_complete_and_the_second_reads_the_first_from_cache(
        long_runner: RunningServer, tmp_path: Path) -> None:
    binary = claude_binary()
    if binary is None:
        pytest.fail("Claude Code is not installed: run scripts/setup.sh --test (needs npm)")
    with RecordingProxy(long_runner.url) as proxy:
        env = {**claude_environment(tmp_path, proxy.url), "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
               "CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(CONTEXT_SIZE),
               "API_TIMEOUT_MS": str(TURN_TIMEOUT_S * 1000)}  # its default 10 minutes; a busy CI box is slower
        turns: list[ClaudeRun] = [
            run_claude([str(binary), "--model", "claude-sonnet-4-5", "--output-format", "json",
                        "-p", "Reply with one word: hello"], tmp_path, env, long_runner, timeout_s=TURN_TIMEOUT_S),
            run_claude([str(binary), "--model", "claude-sonnet-4-5", "--output-format", "json", "--continue",
                        "-p", "Reply with one word: thanks"], tmp_path, env, long_runner, timeout_s=TURN_TIMEOUT_S),
        ]
        requests: list[Exchange] = [request for request in proxy.requests_to("/v1/messages")
                                    if request.body.get("tools")]  # the main loop's, not background calls
    for turn in turns:
        assert turn.returncode == 0, (turn.output, turn.stderr)
        assert turn.output["is_error"] is False and turn.output["subtype"] == "success"
    assert len(requests) >= 2
    first, second = checked(requests[0]), checked(requests[-1])
    first_prompt = first.usage["input_tokens"] + first.usage["cache_read_input_tokens"]
    assert first_prompt > TRAINED_CONTEXT  # the default mode's prompt really is beyond the trained length
    assert second.usage["cache_read_input_tokens"] >= 0.9 * first_prompt
    assert "RoPE scaled with YaRN" in long_runner.log()
