"""`list`, `inspect`, `tag`, `rm` and `package` against real servers on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pexpect

from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.server import RunningServer


def test_list_prints_a_plain_table_when_piped(cli: Cli) -> None:
    lines = cli.ok("list").stdout.splitlines()
    assert lines[0].split() == ["MODEL", "NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL", "ID",
                                "CREATED", "CONTEXT", "SIZE"]
    row = lines[1].split()
    assert row[0] == "ai/tiny:latest"
    assert row[2:4] == ["F32", "llama"]
    assert "2048" in row
    assert "\x1b[" not in cli.ok("list").stdout


def test_ls_is_list(cli: Cli) -> None:
    assert cli.ok("ls").stdout == cli.ok("list").stdout


def test_list_json_is_the_runner_model_list(cli: Cli) -> None:
    models = cli.json("list", "--json")
    assert [model["tags"] for model in models] == [["ai/tiny:latest"]]
    assert models[0]["id"].startswith("sha256:")
    assert models[0]["config"]["architecture"] == "llama"


def test_list_quiet_prints_short_ids(cli: Cli) -> None:
    model_id = cli.json("list", "--json")[0]["id"]
    assert cli.ok("list", "-q").stdout.split() == [model_id.removeprefix("sha256:")[:12]]


def test_list_openai(cli: Cli) -> None:
    listing = cli.json("list", "--openai")
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == ["ai/tiny:latest"]


def test_list_one_model(cli: Cli) -> None:
    assert cli.ok("list", "tiny").stdout.splitlines()[1].startswith("ai/tiny:latest")


def test_inspect_prints_the_model_as_json(cli: Cli) -> None:
    model = cli.json("inspect", TINY_MODEL)
    assert model["tags"] == ["ai/tiny:latest"]
    assert model["config"]["format"] == "gguf"
    assert cli.json("inspect", "--openai", TINY_MODEL)["id"] == TINY_MODEL


def test_inspect_unknown_model_is_one_line(cli: Cli) -> None:
    result = cli("inspect", "ai/absent")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "not found" in result.stderr


def test_tag_and_rm_on_a_store_of_its_own(tiny_gguf: Path, tmp_path: Path) -> None:
    make_tiny_store(tmp_path / "store", tiny_gguf)
    with RunningServer(tmp_path / "store", tmp_path / "server.log") as server:
        cli = Cli(cli_env(server.url))
        assert "me/renamed:v1" in cli.ok("tag", TINY_MODEL, "me/renamed:v1").stdout
        assert cli.json("list", "--json")[0]["tags"] == ["ai/tiny:latest", "me/renamed:v1"]
        model_id = cli.ok("list", "-q").stdout.strip()

        by_id = cli("rm", model_id)
        assert by_id.returncode == 1
        assert by_id.stderr.startswith("modelrunner: ") and by_id.stderr.count("\n") == 1

        assert cli.ok("rm", "me/renamed:v1").stdout.startswith("Untagged: ")
        assert cli.json("list", "--json")[0]["tags"] == ["ai/tiny:latest"]
        removed = cli.ok("rm", "-f", TINY_MODEL).stdout
        assert "Deleted: " in removed
        assert cli.json("list", "--json") == []
        assert cli("rm", TINY_MODEL).returncode == 1


def test_package_a_gguf(tiny_gguf: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with RunningServer(store, tmp_path / "server.log") as server:
        cli = Cli(cli_env(server.url))
        packaged = cli.ok("package", "--gguf", str(tiny_gguf), "--context-size", "1024", "me/packaged:v1")
        assert "me/packaged:v1" in packaged.stdout
        model = cli.json("inspect", "me/packaged:v1")
        assert model["config"]["context_size"] == 1024


def test_list_on_a_terminal_has_colour(cli: Cli) -> None:
    terminal = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "list"], env=cli.env, encoding="utf-8", timeout=60,
                             dimensions=(30, 200))
    terminal.expect(pexpect.EOF)
    assert "\x1b[" in terminal.before and "ai/tiny:latest" in terminal.before
