"""`version`, `status`, and the errors every verb shares."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelrunner import __version__
from modelrunner.store.store import ModelStore
from tests.cli.conftest import Cli, cli_env
from tests.support.server import RunningServer, free_port


def test_version_json(cli: Cli, server) -> None:
    assert cli.json("version", "--json") == {"client": __version__, "server": __version__, "host": server.url}
    assert cli.ok("version").stdout.splitlines() == [f"Client: modelrunner {__version__}",
                                                      f"Server: modelrunner {__version__}"]


def test_status_of_a_running_server(cli: Cli, server) -> None:
    status = cli.json("status", "--json")
    assert status["running"] is True and status["host"] == server.url
    assert cli.ok("status").stdout.startswith(f"modelrunner is running at {server.url}")


def test_status_of_no_server_exits_non_zero_without_starting_one() -> None:
    cli = Cli({**cli_env(f"http://127.0.0.1:{free_port()}"), "MODEL_RUNNER_NO_AUTOSTART": "0"})
    result = cli("status")
    assert result.returncode == 1
    assert "not running" in result.stdout
    assert cli("status").returncode == 1


@pytest.mark.parametrize("verb", [["list"], ["inspect", "ai/tiny"], ["run", "ai/tiny", "hi"], ["ps"], ["df"],
                                  ["pull", "ai/tiny"], ["logs"], ["bench", "ai/tiny"]])
def test_unreachable_runner_without_autostart_is_one_line(verb: list[str]) -> None:
    result = Cli(cli_env(f"http://127.0.0.1:{free_port()}"))(*verb)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("modelrunner: no runner answers at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_bad_flag_is_one_line(cli: Cli) -> None:
    result = cli("list", "--no-such-flag")
    assert result.returncode == 2
    assert result.stderr == "modelrunner: No such option: --no-such-flag (see `modelrunner list --help`)\n"


def test_bad_environment_is_one_line() -> None:
    result = Cli({**cli_env("http://127.0.0.1:1"), "MODEL_RUNNER_PORT": "twelve"})("list")
    assert result.returncode == 1
    assert result.stderr == "modelrunner: MODEL_RUNNER_PORT must be a whole number, got 'twelve'\n"


@pytest.mark.parametrize("verb", [["run"], ["list"], ["inspect"], ["pull"], ["push"], ["rm"], ["tag"], ["package"],
                                  ["ps"], ["df"], ["unload"], ["configure"], ["logs"], ["bench"],
                                  ["launch", "claude"], ["version"], ["status"], ["serve"],
                                  ["requests"]])
def test_every_verb_has_help_with_an_example(verb: list[str]) -> None:
    result = Cli(cli_env("http://127.0.0.1:1"))(*verb, "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout


@contextlib.contextmanager
def server_with_api_key(store: Path, log_path: Path, api_key: str) -> Iterator[RunningServer]:
    """RunningServer waits for an open `GET /`; this one waits for it with the key."""
    server = RunningServer(store, log_path, env={"MODEL_RUNNER_API_KEY": api_key})
    with log_path.open("ab") as log:
        server.process = subprocess.Popen([sys.executable, "-m", "modelrunner", "serve"], env=server.env,
                                          stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            assert server.process.poll() is None, server.log()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(server.url + "/", headers={"x-api-key": api_key}).status_code == 200:
                    break
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


def test_a_runner_with_an_api_key(tiny_store: ModelStore, tmp_path: Path) -> None:
    with server_with_api_key(tiny_store.root, tmp_path / "server.log", "secret") as server:
        without_key = Cli({**cli_env(server.url), "MODEL_RUNNER_NO_AUTOSTART": "0"})("list")
        assert without_key.returncode == 1
        assert without_key.stderr == "modelrunner: invalid x-api-key\n"
        with_key = Cli(cli_env(server.url, MODEL_RUNNER_API_KEY="secret")).json("list", "--json")
        assert [model["tags"] for model in with_key] == [["ai/tiny:latest"]]
