"""`ps`, `df`, `unload`, `configure`, `logs` against a server of their own (they change its state)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def own_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("engines-cli")
    make_tiny_store(root / "store", tiny_gguf)
    with RunningServer(root / "store", root / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def cli(own_server: RunningServer) -> Cli:
    return Cli(cli_env(own_server.url))


def test_ps_shows_a_loaded_model_and_unload_removes_it(cli: Cli) -> None:
    cli.ok("unload", "--all")
    assert cli.json("ps", "--json") == []
    cli.ok("run", "--detach", TINY_MODEL)
    runners = cli.json("ps", "--json")
    assert [runner["model_name"] for runner in runners] == ["ai/tiny:latest"]
    table = cli.ok("ps").stdout.splitlines()
    assert table[0].split()[:3] == ["MODEL", "NAME", "BACKEND"]
    assert table[1].startswith("ai/tiny:latest") and "idle" in table[1]

    assert cli.ok("unload", TINY_MODEL).stdout == "Unloaded 1 runner.\n"
    assert cli.json("ps", "--json") == []
    assert cli.ok("unload", "--all").stdout == "Unloaded 0 runners.\n"


def test_unload_needs_models_or_all(cli: Cli) -> None:
    result = cli("unload")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--all" in result.stderr


def test_df_reports_bytes(cli: Cli) -> None:
    usage = cli.json("df", "--json")
    assert usage["models_disk_usage"] > 100_000
    lines = cli.ok("df").stdout.splitlines()
    assert lines[1].startswith("Models") and lines[1].rstrip().endswith("kB")


def test_configure_then_show(cli: Cli) -> None:
    configured = cli.json("configure", TINY_MODEL, "--context-size", "1024", "--keep-alive", "10m", "--no-think",
                          "--json", "--", "--threads", "1")
    assert configured["context-size"] == 1024
    assert configured["runtime-flags"] == ["--threads", "1"]
    shown = cli.json("configure", "show", TINY_MODEL, "--json")
    assert shown[0]["context-size"] == 1024 and shown[0]["keep_alive"] == "10m" and shown[0]["think"] is False
    row = cli.ok("configure", "show").stdout.splitlines()[1].split()
    assert row[:4] == ["ai/tiny:latest", "1024", "10m", "off"]
    assert cli.ok("run", TINY_MODEL, "hi", "--max-tokens", "2").stdout.strip()
    assert cli.json("ps", "--json")[0]["context_size"] == 1024


def test_configure_refusals_are_one_line(cli: Cli) -> None:
    nothing = cli("configure", TINY_MODEL)
    assert nothing.returncode == 1 and "nothing to configure" in nothing.stderr
    bad_flag = cli("configure", TINY_MODEL, "--", "--model", "/etc/passwd")
    assert bad_flag.returncode == 1
    assert bad_flag.stderr.startswith("modelrunner: ") and bad_flag.stderr.count("\n") == 1


def test_logs_show_the_server_lines(cli: Cli) -> None:
    cli.ok("version")
    lines = cli.ok("logs", "--tail", "50").stdout.splitlines()
    assert any("GET /version" in line for line in lines)
    assert len(cli.ok("logs", "--tail", "2", "--no-workers").stdout.splitlines()) == 2


def test_logs_follow_prints_new_lines_as_they_come(cli: Cli, own_server: RunningServer) -> None:
    follower = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "logs", "-f", "--no-workers"], env=cli.env,
                             encoding="utf-8", timeout=30)
    try:
        follower.expect("GET /logs")
        httpx.get(own_server.url + "/models/ai/followed-marker")
        follower.expect("followed-marker")
    finally:
        follower.terminate(force=True)
