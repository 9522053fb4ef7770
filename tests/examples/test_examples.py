"""Every script in examples/ runs against the default model, as a developer would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import RunningServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(server: RunningServer, name: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "MODEL_RUNNER_URL": server.url, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_has_a_test() -> None:
    tested = {"single_message.py", "count_tokens.py", "multi_turn.py", "streaming.py", "dev_prod_switch.py",
              "code_review_agent.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_single_message(default_model_server: RunningServer) -> None:
    out = run_example(default_model_server, "single_message.py", "Say hello.")
    assert out.strip() and "tokens in" in out


def test_count_tokens_then_send(default_model_server: RunningServer) -> None:
    out = run_example(default_model_server, "count_tokens.py")
    counted = int(out.split(" input tokens")[0].rsplit(" ", 1)[1])
    assert counted <= 1500 and f"generation reported {counted} input tokens (counted {counted})" in out


def test_multi_turn_reuses_the_prompt_cache(default_model_server: RunningServer) -> None:
    out = run_example(default_model_server, "multi_turn.py")
    cached = [int(line.split(": ")[1].rstrip("]")) for line in out.splitlines() if line.startswith("[cached")]
    assert len(cached) == 3 and cached[-1] > 0


def test_streaming(default_model_server: RunningServer) -> None:
    out = run_example(default_model_server, "streaming.py")
    assert out.strip().splitlines()[-1].startswith("[")


def test_dev_prod_switch_picks_the_local_runner_in_development(default_model_server: RunningServer) -> None:
    out = run_example(default_model_server, "dev_prod_switch.py", env={"APP_ENV": "development"})
    assert out.startswith("using ai/smollm2") and len(out.splitlines()) >= 2


def test_code_review_agent_returns_a_structured_review(default_model_server: RunningServer) -> None:
    review = json.loads(run_example(default_model_server, "code_review_agent.py"))
    assert isinstance(review["summary"], str) and isinstance(review["issues"], list)
    assert all(issue["severity"] in ("bug", "security", "style") for issue in review["issues"])
