"""`bench` on the tiny model and `launch claude`'s environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from modelrunner.cli.commands.launch import answer_budget, claude_environment
from tests.claude_code.test_claude_code import claude_binary
from tests.cli.conftest import Cli
from tests.conftest import TINY_MODEL


def test_bench_json_reports_each_level(cli: Cli) -> None:
    report = cli.json("bench", TINY_MODEL, "--concurrency", "1,2", "--duration", "1s", "--max-tokens", "8", "--json")
    assert report["model"] == TINY_MODEL
    assert [level["concurrency"] for level in report["levels"]] == [1, 2]
    for level in report["levels"]:
        assert level["requests"] > 0 and level["errors"] == 0
        assert level["output_tokens_per_s"] > 0 and level["requests_per_s"] > 0
        assert level["ttft_ms_p50"] > 0


def test_bench_table(cli: Cli) -> None:
    lines = cli.ok("bench", TINY_MODEL, "--concurrency", "1", "--duration", "500ms", "--max-tokens", "4").stdout
    assert lines.splitlines()[0].split()[:3] == ["CONCURRENCY", "REQUESTS", "ERRORS"]


def test_bench_bad_duration_is_one_line(cli: Cli) -> None:
    result = cli("bench", TINY_MODEL, "--duration", "soon")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--duration" in result.stderr


def test_launch_claude_dry_run_prints_the_environment(cli: Cli, server) -> None:
    exports = dict(line.removeprefix("export ").split("=", 1)
                   for line in cli.ok("launch", "claude", "--dry-run", "--model", TINY_MODEL).stdout.splitlines())
    assert exports["ANTHROPIC_BASE_URL"] == server.url
    assert exports["ANTHROPIC_AUTH_TOKEN"]
    for tier in ("FABLE", "OPUS", "SONNET", "HAIKU"):
        assert exports[f"ANTHROPIC_DEFAULT_{tier}_MODEL"] == TINY_MODEL
    assert exports["ANTHROPIC_MODEL"] == exports["CLAUDE_CODE_SUBAGENT_MODEL"] == TINY_MODEL
    assert exports["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    assert exports["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "2048"  # the test servers' context
    assert exports["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "256"  # an eighth of it
    # Claude Code reads this one as at least 100k: it cannot stand for a smaller context.
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in exports


def test_launch_claude_keeps_the_users_own_answer_budget(cli: Cli, server) -> None:
    env = {**cli.env, "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "100"}
    exports = dict(line.removeprefix("export ").split("=", 1)
                   for line in Cli(env).ok("launch", "claude", "--dry-run", "--model", TINY_MODEL).stdout.splitlines())
    assert exports["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "100"
    assert exports["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "2048"


def test_the_answer_budget_leaves_claude_code_room_to_compact() -> None:
    """Claude Code compacts at its window less min(answer, 20000) less 13000 tokens: with its own
    default answer (32000 for a model it does not know) a 32k window leaves nothing, with launch's
    budget there is room at 32k and above; Claude Code's default stays the ceiling."""
    def compaction_point(context: int, answer: int) -> int:
        return context - min(answer, 20000) - 13000

    assert compaction_point(32768, 32000) < 0
    for context in (32768, 65536, 131072, 1 << 20):
        assert compaction_point(context, answer_budget(context)) > context // 3
    assert answer_budget(1 << 20) == 32000
    assert answer_budget(8192) == 1024


def test_launch_claude_names_only_variables_the_pinned_claude_code_reads() -> None:
    binary = claude_binary()
    assert binary is not None, "Claude Code is not installed: run scripts/setup.sh --test (needs npm)"
    text = binary.read_bytes()
    for name in claude_environment("http://127.0.0.1:1", "m", None, 8192):
        assert name.encode() in text, name


def test_launch_without_claude_says_how_to_install(cli: Cli, tmp_path: Path) -> None:
    result = Cli({**cli.env, "PATH": str(tmp_path)})("launch", "claude")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "claude" in result.stderr and "npm install" in result.stderr


def test_launch_runs_claude_with_the_environment_and_arguments(cli: Cli, tmp_path: Path, server) -> None:
    """A stand-in `claude` script (the real one needs the internet to install) records what it was given."""
    record = tmp_path / "record.txt"
    fake_claude = tmp_path / "claude"
    fake_claude.write_text(f'#!/bin/sh\necho "$ANTHROPIC_BASE_URL $ANTHROPIC_DEFAULT_SONNET_MODEL $*" > {record}\n'
                           "exit 3\n")
    fake_claude.chmod(fake_claude.stat().st_mode | stat.S_IEXEC)
    env = {**cli.env, "PATH": f"{tmp_path}{os.pathsep}{cli.env['PATH']}"}
    result = Cli(env)("launch", "claude", "--model", TINY_MODEL, "--", "-p", "hello")
    assert result.returncode == 3
    assert record.read_text().split() == [server.url, TINY_MODEL, "-p", "hello"]
