"""`modelrunner batches` against a real server: ls, show (--watch, with its progress bar on a
terminal), results, cancel and rm."""

from __future__ import annotations

import json

import httpx
import pexpect

from tests.cli.conftest import COMMAND, Cli, cli_env
from tests.conftest import TINY_MODEL
from tests.support.server import RunningServer


def _create(server: RunningServer, count: int, max_tokens: int = 4) -> str:
    requests = [{"custom_id": f"c{n}", "params": {"model": TINY_MODEL, "max_tokens": max_tokens,
                                                  "messages": [{"role": "user", "content": "hi"}]}}
                for n in range(count)]
    answer = httpx.post(server.url + "/v1/messages/batches", json={"requests": requests}, timeout=60)
    answer.raise_for_status()
    return answer.json()["id"]


def test_watch_list_results_and_remove(server: RunningServer, cli: Cli) -> None:
    batch_id = _create(server, 3)
    watched = cli.json("batches", "show", batch_id, "--watch", "--json")
    assert watched["processing_status"] == "ended" and watched["request_counts"]["succeeded"] == 3
    assert batch_id in {batch["id"] for batch in cli.json("batches", "ls", "--json")["data"]}
    assert batch_id in cli.ok("batches", "ls").stdout
    assert "3 succeeded" in cli.ok("batches", "show", batch_id).stdout
    lines = [json.loads(line) for line in cli.ok("batches", "results", batch_id).stdout.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["c0", "c1", "c2"]
    assert {line["result"]["type"] for line in lines} == {"succeeded"}
    assert "ended" in cli.ok("batches", "cancel", batch_id).stdout
    assert f"Deleted {batch_id}" in cli.ok("batches", "rm", batch_id).stdout
    missing = cli("batches", "show", batch_id)
    assert missing.returncode == 1 and "no message batch" in missing.stderr


def test_results_before_the_end_is_a_clear_error_and_cancel_ends_it(server: RunningServer, cli: Cli) -> None:
    batch_id = _create(server, 1000, max_tokens=300)  # hundreds of thousands of tokens: still running at cancel
    early = cli("batches", "results", batch_id)
    assert early.returncode == 1 and "available once it has ended" in early.stderr
    assert "canceling" in cli.ok("batches", "cancel", batch_id).stdout
    cli.ok("batches", "show", batch_id, "--watch")
    ended = cli.json("batches", "show", batch_id, "--json")
    assert ended["processing_status"] == "ended" and ended["request_counts"]["canceled"] >= 1
    refused = cli("batches", "rm", "msgbatch_unknown")
    assert refused.returncode == 1 and "no message batch" in refused.stderr


def test_watch_draws_a_progress_bar_on_a_terminal(server: RunningServer) -> None:
    batch_id = _create(server, 2)
    watch = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "batches", "show", batch_id, "--watch"],
                          env=cli_env(server.url), encoding="utf-8", timeout=120, dimensions=(40, 160))
    watch.expect_exact("2/2")
    watch.expect_exact(f"{batch_id}  ended  (0 processing, 2 succeeded")
    watch.expect(pexpect.EOF)
    watch.close()
    assert watch.exitstatus == 0
