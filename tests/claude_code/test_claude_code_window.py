"""The pinned Claude Code, started by `modelrunner launch claude`, keeps its requests within the model's
context: a session whose turns add up to more than the context is compacted by Claude Code before any
request outgrows it, so none reaches the runner too long.

Facts about Claude Code 2.1.331 this rests on, read in its code and seen on the wire here: for a model
name it does not recognise, its window is `CLAUDE_CODE_MAX_CONTEXT_TOKENS` (1M when unset);
`CLAUDE_CODE_AUTO_COMPACT_WINDOW` only lowers that window and reads any value under 100k as 100k, so
with the variable `launch` used to set, this test's session sent its fourth turn at 36,175 tokens and the
runner answered `prompt is too long` (Claude Code then compacted after the fact). It compacts once the
conversation passes the window less min(max output, 20000) less 13000 tokens, and refuses prompts itself
past the window less the answer reserve less 3000, so its default 32000-token answer (for a model it does
not know) leaves nothing of a small window.

The model is the tiny random one with a context of 32k, written with an end-of-turn token it samples
often, so each reply ends within a few tokens as a chat model's would instead of running to
max_tokens (which would make Claude Code send continuation requests). Its tokenizer knows few merges,
so the filler prompts below are about 0.9 tokens per character, and four of them exceed the context.
`--bare` with a one-line system prompt and no tools keeps Claude Code's own part of each request small;
the compaction mechanism is the same as in its default mode.

Slow: about 36k prompt tokens at positions up to 32k cost the tiny model's attention some 25 s per 6k
tokens on one thread here (two threads were no faster on the shared box, flash attention neither), and
the whole session took 135 s at load 5. A smaller context cannot stand in: at 16k, where Claude Code's
compaction point (the window less the 2048-token answer less 13000) is under 2k, it sent a request past
the context and compacted only after the runner's 400.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.claude_code.test_claude_code import ClaudeRun, checked, claude_binary, claude_environment, run_claude
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.recording_proxy import Exchange, RecordingProxy
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf

CONTEXT_SIZE = 32768
TURNS = 4
FILLER = "lorem ipsum dolor "
FILLER_REPEATS = 560
TERSE_END_OF_TURN = "&"  # a token the tiny model samples within a few steps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def terse_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("claude-window")
    gguf = write_tiny_llama_gguf(root / "terse.gguf", context_length=CONTEXT_SIZE, eot_token=TERSE_END_OF_TURN)
    store = make_tiny_store(root / "store", gguf)
    with RunningServer(store.root, root / "server.log", env={"MODEL_RUNNER_THREADS": "1"}) as running:
        configured = httpx.post(running.url + "/engines/_configure", timeout=30,
                                json={"model": TINY_MODEL, "context-size": CONTEXT_SIZE})
        assert configured.status_code < 300, configured.text
        yield running


def prompt(turn: int) -> str:
    return f"Note {turn}: " + FILLER * FILLER_REPEATS


def prompt_tokens(exchange: Exchange) -> int:
    usage = checked(exchange).usage
    return usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]


def launch_session(claude: Path, runner: RunningServer, proxy: RecordingProxy, home: Path) -> list[ClaudeRun]:
    """`modelrunner launch claude` with the real binary on PATH, one `-p` turn after another."""
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "claude").symlink_to(claude)
    env = {**claude_environment(home, proxy.url), "MODEL_RUNNER_HOST": proxy.url, "MODEL_RUNNER_NO_AUTOSTART": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    del env["ANTHROPIC_BASE_URL"]  # launch sets it from MODEL_RUNNER_HOST
    launch = [sys.executable, "-m", "modelrunner", "launch", "claude", "--model", TINY_MODEL, "--",
              "--bare", "--system-prompt", "You are terse.", "--tools", "", "--output-format", "json"]
    return [run_claude([*launch, *(["--continue"] if turn else []), "-p", prompt(turn)], home, env, runner)
            for turn in range(TURNS)]


def test_claude_code_compacts_before_the_context_is_exceeded(terse_runner: RunningServer, tmp_path: Path) -> None:
    claude = claude_binary()
    if claude is None:
        pytest.fail("Claude Code is not installed: run scripts/setup.sh --test (needs npm)")
    counted = [httpx.post(terse_runner.url + "/v1/messages/count_tokens", timeout=30, json={
        "model": TINY_MODEL, "messages": [{"role": "user", "content": prompt(turn)}]}).json()["input_tokens"]
        for turn in range(TURNS)]
    assert sum(counted) > CONTEXT_SIZE  # uncompacted, the session cannot fit
    with RecordingProxy(terse_runner.url) as proxy:
        turns = launch_session(claude, terse_runner, proxy, tmp_path)
        requests = proxy.requests_to("/v1/messages")
    for turn in turns:
        assert turn.returncode == 0, (turn.output, turn.stderr)
        assert turn.output["is_error"] is False and turn.output["subtype"] == "success"
    refused = [request.response[:300] for request in requests if request.status != 200]
    assert refused == []  # in particular no `prompt is too long`: Claude Code compacted first
    sizes = [prompt_tokens(request) for request in requests]
    assert max(sizes) <= CONTEXT_SIZE
    assert all(request.body["max_tokens"] == CONTEXT_SIZE // 8 for request in requests)
    # Compaction replaced the history: a later request carries fewer messages than the one before it,
    # and the last one no longer carries the first turn's text.
    message_counts = [len(request.body["messages"]) for request in requests]
    assert any(later < earlier for earlier, later in zip(message_counts, message_counts[1:])), message_counts
    assert "Note 0:" not in json.dumps(requests[-1].body["messages"])
    assert "Note 3:" in json.dumps(requests[-1].body["messages"])
