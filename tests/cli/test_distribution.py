"""`push` and `pull` through a real registry (Debian's docker-registry on a loopback port), and `pull
--keep-partial/--discard-partial` against a Hub stand-in that drops the download."""

from __future__ import annotations

from pathlib import Path

import pexpect

from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.fake_hub import FakeHub, FakeRepo
from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf


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


def test_pull_keep_partial_and_discard_partial(tmp_path: Path) -> None:
    gguf = write_tiny_llama_gguf(tmp_path / "cut.gguf", seed=12)
    half = gguf.stat().st_size // 2
    with FakeHub({"TestOrg/Cut-GGUF": FakeRepo({"cut-Q4_K_M.gguf": gguf})}) as hub, \
            RunningServer(tmp_path / "store", tmp_path / "server.log",
                          env={"HF_ENDPOINT": hub.endpoint, "MODEL_RUNNER_REGISTRY_ATTEMPTS": "2"}) as server:
        cli = Cli(cli_env(server.url))
        hub.cut_after_bytes, hub.cut_count = {"cut-Q4_K_M.gguf": half}, 2
        discarded = cli("pull", "--discard-partial", "hf.co/TestOrg/Cut-GGUF")
        assert discarded.returncode != 0 and "partial download was removed" in discarded.stderr, discarded
        assert not list((tmp_path / "store").glob(".hf-*"))

        hub.cut_count = 2
        kept = cli("pull", "--keep-partial", "hf.co/TestOrg/Cut-GGUF")
        assert kept.returncode != 0 and "partial download was kept" in kept.stderr, kept
        assert [p.stat().st_size for p in (tmp_path / "store").glob(".hf-*/*.incomplete")] == [half]

        cli.ok("pull", "hf.co/TestOrg/Cut-GGUF")
        assert hub.ranges[-1] == f"cut-Q4_K_M.gguf bytes={half}-"
        assert [model["tags"] for model in cli.json("list", "--json")] == [
            ["huggingface.co/testorg/cut-gguf:latest", "huggingface.co/testorg/cut-gguf:Q4_K_M"]]
