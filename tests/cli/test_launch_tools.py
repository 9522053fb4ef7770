"""`launch codex` and `launch opencode`: what they configure, and that they run the tool with it."""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

from tests.cli.conftest import Cli
from tests.conftest import TINY_MODEL
from tests.support.server import RunningServer


def _fake_tool(folder: Path, name: str, record: Path) -> dict[str, str]:
    """A stand-in executable that records its arguments and the variables launch sets, then fails with 3."""
    script = folder / name
    script.write_text(f'#!/bin/sh\n{{ echo "$MODELRUNNER_API_KEY"; echo "$OPENCODE_CONFIG"; '
                      f'for a in "$@"; do echo "$a"; done; }} > {record}\nexit 3\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_codex_dry_run_prints_the_provider_overrides(cli: Cli, server: RunningServer) -> None:
    lines = cli.ok("launch", "codex", "--dry-run", "--model", TINY_MODEL).stdout.splitlines()
    assert lines[0].startswith("export MODELRUNNER_API_KEY=")
    command = shlex.split(lines[1])
    assert command[0] == "codex"
    overrides = dict(value.split("=", 1) for flag, value in zip(command[1::2], command[2::2]) if flag == "-c")
    assert json.loads(overrides["model_providers.modelrunner.base_url"]) == server.url + "/v1"
    assert json.loads(overrides["model_providers.modelrunner.wire_api"]) == "responses"
    assert json.loads(overrides["model_provider"]) == "modelrunner"
    assert json.loads(overrides["model"]) == TINY_MODEL


def test_codex_runs_with_the_overrides_and_the_arguments(cli: Cli, tmp_path: Path, server: RunningServer) -> None:
    record = tmp_path / "record.txt"
    env = {**cli.env, **_fake_tool(tmp_path, "codex", record)}
    result = Cli(env)("launch", "codex", "--model", TINY_MODEL, "--", "exec", "hello")
    assert result.returncode == 3
    key, _, *arguments = record.read_text().splitlines()
    assert key and arguments[-2:] == ["exec", "hello"]
    assert f'model_providers.modelrunner.base_url="{server.url}/v1"' in arguments


def test_opencode_writes_its_own_config_and_names_it(cli: Cli, tmp_path: Path, server: RunningServer) -> None:
    record = tmp_path / "record.txt"
    config = tmp_path / "launch" / "opencode.json"
    env = {**cli.env, **_fake_tool(tmp_path, "opencode", record)}
    dry = Cli(env).ok("launch", "opencode", "--dry-run", "--config-path", str(config), "--model", TINY_MODEL)
    assert not config.exists() and f"OPENCODE_CONFIG={config}" in dry.stdout
    result = Cli(env)("launch", "opencode", "--config-path", str(config), "--model", TINY_MODEL, "--", "run", "hi")
    assert result.returncode == 3 and str(config) in result.stderr
    key, named, *arguments = record.read_text().splitlines()
    assert named == str(config) and arguments == ["run", "hi"]
    document = json.loads(config.read_text())
    provider = document["provider"]["modelrunner"]
    assert provider["options"]["baseURL"] == server.url + "/v1"
    assert TINY_MODEL in provider["models"] and document["model"] == f"modelrunner/{TINY_MODEL}"


def test_a_missing_tool_says_how_to_install_it(cli: Cli, tmp_path: Path) -> None:
    bare = Cli({**cli.env, "PATH": str(tmp_path)})
    config = tmp_path / "opencode.json"
    for result, package in ((bare("launch", "codex"), "@openai/codex"),
                            (bare("launch", "opencode", "--config-path", str(config)), "opencode-ai")):
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and package in result.stderr
    assert not config.exists()


def test_opencode_never_overwrites_a_config_it_did_not_write(cli: Cli, tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    env = {**cli.env, **_fake_tool(tmp_path, "opencode", record)}
    own = tmp_path / "users-config" / "opencode.json"
    own.parent.mkdir()
    own.write_text('{"model": "anthropic/claude-sonnet", "theme": "dark"}\n')
    for dry in ((), ("--dry-run",)):
        refused = Cli(env)("launch", "opencode", *dry, "--config-path", str(own), "--model", TINY_MODEL)
        assert refused.returncode == 1 and str(own) in refused.stderr and "--config-path" in refused.stderr
        assert own.read_text() == '{"model": "anthropic/claude-sonnet", "theme": "dark"}\n'
    assert not record.exists()  # opencode was not started


def test_opencode_rewrites_its_own_config_and_says_when_it_replaces_the_users(cli: Cli, tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    config = tmp_path / "launch" / "opencode.json"
    env = {**cli.env, **_fake_tool(tmp_path, "opencode", record)}
    assert Cli(env)("launch", "opencode", "--config-path", str(config), "--model", TINY_MODEL).returncode == 3
    users = str(tmp_path / "users-opencode.json")
    again = Cli({**env, "OPENCODE_CONFIG": users})("launch", "opencode", "--config-path", str(config),
                                                   "--model", "ai/other")
    assert again.returncode == 3
    assert json.loads(config.read_text())["model"] == "modelrunner/ai/other"
    assert f"OPENCODE_CONFIG was {users}" in again.stderr
