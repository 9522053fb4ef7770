"""The Codex CLI itself (`@openai/codex`, pinned in package.json beside this file and installed by
scripts/setup.sh --test), run non-interactively (`codex exec`) through `modelrunner launch codex`, as a
user would: one turn over the Responses API completes without an API error.

Codex's request is large (its instructions and ~9 tools, about 23k tokens of the tiny model's byte-level
tokenizer), so the tiny model gets a 32k context. Codex treats `response.incomplete` as a failed turn, so
the model must end its answer by itself: this tiny model's end-of-turn token is made likely, and it
answers in a token or two. Codex's hosted tools (web_search, namespace) are not offered to the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.tiny_model as tiny_model
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.server import RunningServer

HERE = Path(__file__).parent
CODEX = HERE / "node_modules" / ".bin" / "codex"
CONTEXT_TOKENS = 32768
TERSE_CONTROL_BIAS = 6.0


@pytest.fixture(scope="module")
def terse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A tiny model with a long context whose end-of-turn token wins within a few tokens."""
    root = tmp_path_factory.mktemp("codex")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiny_model, "CONTROL_BIAS", TERSE_CONTROL_BIAS)
        gguf = tiny_model.write_tiny_llama_gguf(root / "terse.gguf", context_length=CONTEXT_TOKENS)
    make_tiny_store(root / "store", gguf)
    with RunningServer(root / "store", root / "server.log",
                       env={"MODEL_RUNNER_CONTEXT_SIZE": str(CONTEXT_TOKENS), "MODEL_RUNNER_THREADS": "2"}) as server:
        yield server


def test_codex_exec_completes_a_turn_through_launch(terse_server: RunningServer, tmp_path: Path) -> None:
    if not os.access(CODEX, os.X_OK):
        pytest.fail("the Codex CLI is not installed: run scripts/setup.sh --test (npm install in tests/codex)")
    codex_home = tmp_path / "codex-home"  # Codex keeps sessions and config here: never the user's ~/.codex
    codex_home.mkdir()
    env = {**os.environ, "MODEL_RUNNER_HOST": terse_server.url, "MODEL_RUNNER_NO_AUTOSTART": "1",
           "CODEX_HOME": str(codex_home), "PATH": f"{CODEX.parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "modelrunner", "launch", "codex", "--model", TINY_MODEL, "--",
         "exec", "--skip-git-repo-check", "Say hi."],
        env=env, cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{terse_server.log()[-3000:]}"
    assert "ERROR" not in result.stderr
    assert "provider: modelrunner" in result.stderr and "tokens used" in result.stderr
    requests = [line for line in terse_server.log().splitlines() if "POST /v1/responses" in line]
    assert requests and all(" 200 " in line for line in requests)
