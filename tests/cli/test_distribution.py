"""`push` and `pull` through a real registry (Debian's docker-registry on a loopback port)."""

from __future__ import annotations

from pathlib import Path

import pexpect

from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer


def test_push_then_pull_round_trip(tiny_gguf: Path, tmp_path: Path, registry: RegistryProcess) -> None:
    make_tiny_store(tmp_path / "store", tiny_gguf)
    remote_name = f"{registry.host}/cli/tiny:v1"
    with RunningServer(tmp_path / "store", tmp_path / "server.log") as server:
        cli = Cli(cli_env(server.url))
        original_id = cli.json("inspect", TINY_MODEL)["id"]
        cli.ok("tag", TINY_MODEL, remote_name)
        pushed = cli.ok("push", remote_name)
        assert pushed.stdout.strip() and "\x1b[" not in pushed.stdout
        cli.ok("rm", "-f", original_id)
        assert cli.json("list", "--json") == []

        pulled = cli.ok("pull", remote_name)
        assert pulled.stdout.strip()
        assert "\x1b[" not in pulled.stdout + pulled.stderr
        assert cli.json("inspect", remote_name)["id"] == original_id


def test_run_pulls_a_missing_model_first(tiny_gguf: Path, tmp_path: Path, registry: RegistryProcess) -> None:
    remote_name = f"{registry.host}/cli/run-me:v1"
    make_tiny_store(tmp_path / "source", tiny_gguf)
    with RunningServer(tmp_path / "source", tmp_path / "source.log") as source:
        source_cli = Cli(cli_env(source.url))
        source_cli.ok("tag", TINY_MODEL, remote_name)
        source_cli.ok("push", remote_name)
    with RunningServer(tmp_path / "empty", tmp_path / "empty.log") as server:
        cli = Cli(cli_env(server.url))
        result = cli.ok("run", remote_name, "hi", "--max-tokens", "3")
        assert f"Model {remote_name} is not in the store; pulling it." in result.stderr
        assert result.stdout.strip()
        assert [model["tags"] for model in cli.json("list", "--json")] == [[remote_name]]


def test_pull_on_a_terminal_shows_progress_bars(tiny_gguf: Path, tmp_path: Path, registry: RegistryProcess) -> None:
    remote_name = f"{registry.host}/cli/bars:v1"
    make_tiny_store(tmp_path / "source", tiny_gguf)
    with RunningServer(tmp_path / "source", tmp_path / "source.log") as source:
        Cli(cli_env(source.url)).ok("tag", TINY_MODEL, remote_name)
        Cli(cli_env(source.url)).ok("push", remote_name)
    with RunningServer(tmp_path / "empty", tmp_path / "empty.log") as server:
        terminal = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "pull", remote_name], env=cli_env(server.url),
                                 encoding="utf-8", timeout=60, dimensions=(30, 160))
        terminal.expect(pexpect.EOF)
        terminal.close()
        assert terminal.exitstatus == 0, terminal.before
        assert "total" in terminal.before and "━" in terminal.before and "kB" in terminal.before
        assert "\x1b[" in terminal.before


def test_pull_of_a_missing_model_is_one_line(tmp_path: Path, registry: RegistryProcess, cli: Cli) -> None:
    result = cli("pull", f"{registry.host}/cli/absent:v1")
    assert result.returncode == 1
    assert result.stderr.startswith("modelrunner: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
