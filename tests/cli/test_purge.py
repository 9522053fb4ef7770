"""`modelrunner purge` and `DELETE /models/purge` on a store of their own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pexpect

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.lifecycle import paused_workers, wait_until
from tests.support.server import RunningServer
from tests.support.tiny_reranker import write_tiny_reranker_gguf


def test_purge_asks_on_a_terminal_refuses_without_one_and_removes_everything_when_forced(
        tiny_gguf: Path, tmp_path: Path) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    reranker = write_tiny_reranker_gguf(tmp_path / "reranker.gguf")
    package_gguf(store, PackageSpec(gguf_paths=[reranker]), [parse_reference("ai/tiny-reranker")])
    with RunningServer(tmp_path / "store", tmp_path / "server.log") as server:
        cli = Cli(cli_env(server.url))
        httpx.post(server.url + "/v1/embeddings", json={"model": TINY_MODEL, "input": "load"}).raise_for_status()
        assert httpx.get(server.url + "/engines/ps").json()  # a model is loaded

        piped = cli("purge")
        assert piped.returncode == 2 and "--force" in piped.stderr
        terminal = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "purge"], env=cli.env, encoding="utf-8", timeout=60)
        terminal.expect(r"\[y/N\]")
        terminal.sendline("n")
        terminal.expect(pexpect.EOF)
        assert "Nothing removed" in terminal.before
        assert len(cli.json("list", "--json")) == 2

        purged = cli.ok("purge", "--force").stdout
        assert purged.count("Deleted: ") == 2 and "Removed 2 model(s)." in purged
        assert cli.json("list", "--json") == []
        assert httpx.get(server.url + "/engines/ps").json() == []
        assert not list((store.root / "blobs" / "sha256").glob("*"))
        again = httpx.delete(server.url + "/models/purge")
        assert again.status_code == 200 and again.json() == []


def test_purge_while_a_model_serves_a_request_removes_nothing_and_says_why(tiny_gguf: Path, tmp_path: Path) -> None:
    make_tiny_store(tmp_path / "store", tiny_gguf)
    with RunningServer(tmp_path / "store", tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.url, timeout=120) as http:
        cli = Cli(cli_env(server.url))
        http.post("/v1/embeddings", json={"model": TINY_MODEL, "input": "load"}).raise_for_status()
        with ThreadPoolExecutor(1) as pool:
            with paused_workers(server):
                in_flight = pool.submit(http.post, "/v1/embeddings", json={"model": TINY_MODEL, "input": "held"})
                wait_until(lambda: any(r["active_requests"] for r in http.get("/engines/ps").json()),
                           what="the request to reach its runner")
                refused = http.delete("/models/purge")
                assert refused.status_code == 409, refused.text
                assert "serving" in refused.json()["error"]["message"]
                piped = cli("purge", "--force")
                assert piped.returncode != 0 and "serving" in piped.stderr and "Traceback" not in piped.stderr
                assert len(cli.json("list", "--json")) == 1
            assert in_flight.result().status_code == 200  # the request it waited for was not cut
        assert "Removed 1 model(s)." in cli.ok("purge", "--force").stdout
        assert http.get("/engines/ps").json() == []
