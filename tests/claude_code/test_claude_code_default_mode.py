"""Claude Code in its default mode (its own system prompt and full tool set, no `--bare`) against the
default model configured for a 32k context: SmolLM2 was trained on 8192 tokens, Claude Code's first
request is about 20k, so the runner loads it with YaRN RoPE scaling. Two turns of one session through
the recording proxy: each completes without an API error with an answer the model wrote, within the
max_tokens Claude Code was told to ask for, and the `--continue` turn is served from the prefix cache.

Where the time goes (measured on the 2-core CI box, SmolLM2-135M Q4_1, 2 threads): all of it is
prompt processing of the first turn. With non-essential traffic off Claude Code sends one request per
turn (its main loop: 12 tools, ~20.5k prompt tokens), no background calls, and the answer is bounded
(256 tokens asked for, and honoured). llama.cpp processed 31-33 prompt tokens/s over the first 4096
tokens with the box nearly idle, 17/s at load 12 and 4.5/s at load 14. In CPU time: ~30 tokens per
CPU-second for the first 2k tokens, 21 on average over the first 14,336 (685 CPU-s: attention grows
with the position), so the first turn needs some 1000 CPU-seconds, about 9-10 minutes with both cores
to itself; on a box shared with other jobs it ran past 25 minutes (the worker got 0.44 of a core).
No setting bought a clear gain (interleaved, 512-token prompts, box under load, tokens/s): 1 thread
19-34 against 2 threads 21, a 8192 context 16-28, flash attention off 12-15.
The second turn reads the first prompt from the slot's cache.
Two client timeouts used to make the turn never finish: Claude Code's stream watchdog counts content
events, not the runner's pings, and dropped the stream ("no chunks received for 300s") 600 s after
`message_start`; its non-streaming retry resumed from the 8192 tokens the slot had processed but sends
nothing until the answer is whole, so the recording proxy's 600 s read timeout cut that one.
`CLAUDE_STREAM_IDLE_TIMEOUT_MS` keeps the stream. One such test only, marked slow.
It passed on that box with nothing else running, in 11.5 minutes: the first turn 20,801 prompt tokens
answered in 645 s, the `--continue` turn 20,918 in 43 s (its prefix read from the cache)."""

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
TURN_TIMEOUT_S = 1800
MAX_OUTPUT_TOKENS = 256

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
        # No window variable: Claude Code reads CLAUDE_CODE_AUTO_COMPACT_WINDOW under 100k as 100k, and
        # CLAUDE_CODE_MAX_CONTEXT_TOKENS (launch's) would have it compact before the --continue turn,
        # its ~21k prompt being past a 32k window's compaction point (test_claude_code_window.py).
        env = {**claude_environment(tmp_path, proxy.url), "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
               "API_TIMEOUT_MS": str(TURN_TIMEOUT_S * 1000),  # its default 10 minutes; a busy CI box is slower
               # Its stream watchdog counts content events only (not pings): past 300 s of prompt
               # processing it drops the stream and retries without streaming.
               "CLAUDE_STREAM_IDLE_TIMEOUT_MS": str(TURN_TIMEOUT_S * 1000),
               # What a user sets for a small local model: a short answer, no thinking budget (which
               # Claude Code keeps at 1024 or more, above such a max_tokens).
               "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(MAX_OUTPUT_TOKENS), "CLAUDE_CODE_DISABLE_THINKING": "1"}
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
        assert turn.output["result"].strip()  # the model's own answer
    assert len(requests) >= 2
    for request in requests:
        assert request.body["stream"] is True and request.body["max_tokens"] == MAX_OUTPUT_TOKENS
        assert checked(request).usage["output_tokens"] <= MAX_OUTPUT_TOKENS
    first, second = checked(requests[0]), checked(requests[-1])
    first_prompt = first.usage["input_tokens"] + first.usage["cache_read_input_tokens"]
    assert first_prompt > TRAINED_CONTEXT  # the default mode's prompt really is beyond the trained length
    assert second.usage["cache_read_input_tokens"] >= 0.9 * first_prompt
    assert "RoPE scaled with YaRN" in long_runner.log()
