"""The Message Batches API through the official `anthropic` SDK against a real server on the tiny model:
create, poll, list paging, every kind of result, cancel, delete, bad batches refused whole, and
interactive requests served ahead of a running batch."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.server import RunningServer

POLL_S = 0.2
SAY_HI = [{"role": "user", "content": "Say hi"}]


def params(max_tokens: int = 8, **extra: Any) -> dict[str, Any]:
    return {"model": TINY_MODEL, "max_tokens": max_tokens, "messages": SAY_HI, **extra}


def client_for(server: RunningServer, prefix: str = "") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url + prefix, api_key="not-needed", max_retries=0, timeout=120)


def wait_until_ended(client: anthropic.Anthropic, batch_id: str, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(POLL_S)
    raise AssertionError(f"batch {batch_id} did not end within {timeout_s}s")


def results_by_id(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    lines = list(client.messages.batches.results(batch_id))
    by_id = {line.custom_id: line.result for line in lines}
    assert len(by_id) == len(lines), "a custom_id appears twice in the results"
    return by_id


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Iterator[RunningServer]:
    """One generation slot (and eight batch workers), so the order in which batch and interactive work get it is observable;
    `claude-*` names fall back to the tiny model."""
    store = make_tiny_store(tmp_path_factory.mktemp("batch-store"), tiny_gguf)
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "batches.log",
                       env={"MODEL_RUNNER_PARALLEL": "1", "MODEL_RUNNER_BATCH_CONCURRENCY": "8",
                            "MODEL_RUNNER_DEFAULT_MODEL": TINY_MODEL}) as running:
        yield running


@pytest.fixture(scope="module")
def client(batch_server: RunningServer) -> anthropic.Anthropic:
    return client_for(batch_server)


def test_a_batch_runs_every_messages_feature_and_reports_each_result(client: anthropic.Anthropic) -> None:
    tool = {"name": "get_weather", "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                             "required": ["city"]}}
    requests = [
        {"custom_id": "plain", "params": params()},
        {"custom_id": "claude-name", "params": {**params(), "model": "claude-sonnet-4-5"}},
        {"custom_id": "tool", "params": params(400, tools=[tool], tool_choice={"type": "tool", "name": "get_weather"},
                                               messages=[{"role": "user", "content": "Weather in Paris?"}])},
        {"custom_id": "thinking", "params": params(32, thinking={"type": "enabled", "budget_tokens": 16})},
        {"custom_id": "unknown-model", "params": {**params(), "model": "ai/no-such-model"}},
        {"custom_id": "too-long", "params": params(messages=[{"role": "user", "content": "word " * 5000}])},
    ]
    created = client.messages.batches.create(requests=requests)
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing + created.request_counts.succeeded + \
        created.request_counts.errored == len(requests)
    assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(24 * 3600, abs=1)

    ended = wait_until_ended(client, created.id)
    assert ended.ended_at is not None and ended.results_url.endswith(f"/v1/messages/batches/{created.id}/results")
    assert ended.request_counts.model_dump() == {"processing": 0, "succeeded": 4, "errored": 2,
                                                 "canceled": 0, "expired": 0}
    results = results_by_id(client, created.id)
    assert set(results) == {request["custom_id"] for request in requests}
    for custom_id in ("plain", "claude-name", "tool", "thinking"):
        assert results[custom_id].type == "succeeded", results[custom_id]
        message = results[custom_id].message
        assert message.id.startswith("msg_") and message.usage.output_tokens >= 1
    assert results["claude-name"].message.model == "claude-sonnet-4-5"
    [call] = [block for block in results["tool"].message.content if block.type == "tool_use"]
    assert results["tool"].message.stop_reason == "tool_use"
    assert call.name == "get_weather" and call.input["city"] in ("Paris", "Rome")
    assert results["unknown-model"].type == "errored"
    assert results["unknown-model"].error.error.type == "not_found_error"
    assert "ai/no-such-model" in results["unknown-model"].error.error.message
    assert results["too-long"].type == "errored"
    assert results["too-long"].error.error.type == "invalid_request_error"
    assert "too long" in results["too-long"].error.error.message


def test_the_anthropic_prefix_serves_the_same_batches(batch_server: RunningServer) -> None:
    prefixed = client_for(batch_server, "/anthropic")
    created = prefixed.messages.batches.create(requests=[{"custom_id": "one", "params": params()}])
    ended = wait_until_ended(prefixed, created.id)
    assert ended.results_url.endswith(f"/anthropic/v1/messages/batches/{created.id}/results")
    assert results_by_id(prefixed, created.id)["one"].type == "succeeded"
    assert client_for(batch_server).messages.batches.retrieve(created.id).id == created.id


def test_list_pages_newest_first_both_ways(client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=[{"custom_id": f"r{n}", "params": params(1)}]).id
           for n in range(5)]
    first = client.messages.batches.list(limit=2)
    assert [batch.id for batch in first.data] == ids[::-1][:2]
    assert first.has_more and first.first_id == ids[4] and first.last_id == ids[3]
    walked = [batch.id for batch in client.messages.batches.list(limit=2)]  # the SDK follows after_id
    assert walked[:5] == ids[::-1] and len(walked) == len(set(walked))
    older = client.messages.batches.list(limit=2, after_id=ids[3])
    assert [batch.id for batch in older.data] == [ids[2], ids[1]]
    newer = client.messages.batches.list(limit=2, before_id=ids[1])
    assert [batch.id for batch in newer.data] == [ids[3], ids[2]] and newer.has_more
    newest = client.messages.batches.list(limit=5, before_id=ids[2])
    assert [batch.id for batch in newest.data] == [ids[4], ids[3]] and not newest.has_more
    for batch_id in ids:
        wait_until_ended(client, batch_id)


def test_cancel_mid_run_ends_with_the_rest_canceled(client: anthropic.Anthropic) -> None:
    requests = [{"custom_id": f"q{n}", "params": params(64)} for n in range(60)]
    created = client.messages.batches.create(requests=requests)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(created.id)  # not before it has ended (a canceled one may end at once)
    canceling = client.messages.batches.cancel(created.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    ended = wait_until_ended(client, created.id)
    counts = ended.request_counts
    assert counts.canceled >= 1 and counts.succeeded + counts.canceled == len(requests) and counts.processing == 0
    results = results_by_id(client, created.id)
    assert len(results) == len(requests)
    assert sum(result.type == "canceled" for result in results.values()) == counts.canceled
    again = client.messages.batches.cancel(created.id)  # canceling an ended batch changes nothing
    assert again.processing_status == "ended" and again.request_counts == counts


def test_delete_an_ended_batch(client: anthropic.Anthropic) -> None:
    created = client.messages.batches.create(requests=[{"custom_id": "x", "params": params(1)}])
    wait_until_ended(client, created.id)
    deleted = client.messages.batches.delete(created.id)
    assert deleted.id == created.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(created.id)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.delete(created.id)


@pytest.mark.parametrize(("requests", "named"), [
    ([{"custom_id": "ok", "params": params()}, {"custom_id": "ok", "params": params()}], "requests.1.custom_id"),
    ([{"custom_id": "has space", "params": params()}], "requests.0.custom_id"),
    ([{"custom_id": "x" * 65, "params": params()}], "requests.0.custom_id"),
    ([{"custom_id": "a", "params": params()}, {"custom_id": "b", "params": {"model": TINY_MODEL, "messages": SAY_HI}}],
     "requests.1 (custom_id 'b'): params.max_tokens"),
    ([{"custom_id": "a", "params": params(stream=True)}], "params.stream"),
    ([{"custom_id": "a", "params": {**params(), "messages": "not a list"}}], "params.messages"),
    ([], "at least one request"),
])
def test_a_bad_batch_is_refused_whole_naming_the_first_bad_request(
        client: anthropic.Anthropic, requests: list[dict[str, Any]], named: str) -> None:
    before = client.messages.batches.list(limit=1000).data
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.batches.create(requests=requests)
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    assert named in refused.value.body["error"]["message"]
    assert len(client.messages.batches.list(limit=1000).data) == len(before)


def test_too_many_requests_and_unknown_batches_are_clear_errors(batch_server: RunningServer) -> None:
    too_many = {"requests": [{"custom_id": f"r{n}", "params": params()} for n in range(100_001)]}
    answer = httpx.post(batch_server.url + "/v1/messages/batches", json=too_many, timeout=120)
    assert answer.status_code == 413 and "100000" in answer.json()["error"]["message"]
    missing = httpx.get(batch_server.url + "/v1/messages/batches/msgbatch_nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    for query in ("limit=0", "limit=1001", "limit=ten", "after_id=msgbatch_nope", "after_id=a&before_id=b"):
        listed = httpx.get(batch_server.url + "/v1/messages/batches?" + query, timeout=10)
        assert listed.status_code == 400 and listed.json()["type"] == "error", query


def _ended_counts(client: anthropic.Anthropic, batch_id: str) -> int:
    counts = client.messages.batches.retrieve(batch_id).request_counts
    return counts.succeeded + counts.errored


def test_an_interactive_request_goes_ahead_of_a_running_batch(batch_server: RunningServer,
                                                             client: anthropic.Anthropic) -> None:
    """One slot and eight batch workers: an interactive request takes the slot from the batch generation
    holding it, so at most that generation (and the next, once the interactive one is done) finishes
    between asking and answering, where a first-come first-served queue would put every waiting batch
    worker first. Batch generations are long (1 000 tokens) next to the interactive one (16)."""
    requests = [{"custom_id": f"b{n}", "params": params(1000)} for n in range(200)]
    created = client.messages.batches.create(requests=requests)
    deadline = time.monotonic() + 240
    while _ended_counts(client, created.id) < 2:
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(POLL_S)
    finished_before = _ended_counts(client, created.id)
    answer = client.messages.create(**params(16))
    finished_after = _ended_counts(client, created.id)
    assert answer.content and answer.usage.output_tokens >= 1
    assert finished_after - finished_before <= 2
    canceling = client.messages.batches.cancel(created.id)
    assert canceling.request_counts.processing > 0
    ended = wait_until_ended(client, created.id)
    assert ended.request_counts.succeeded + ended.request_counts.canceled == 200
    assert _metric(batch_server, 'modelrunner_batch_requests_total{outcome="canceled"}') >= 1


def _metric(server: RunningServer, name: str) -> float:
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_short_expiry_expires_what_has_not_run(tmp_path: Path, tiny_gguf: Path) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    with RunningServer(store.root, tmp_path / "log", env={"MODEL_RUNNER_BATCH_EXPIRY": "0"}) as running:
        expiring = client_for(running)
        created = expiring.messages.batches.create(requests=[{"custom_id": f"e{n}", "params": params()}
                                                             for n in range(3)])
        assert created.expires_at == created.created_at
        ended = wait_until_ended(expiring, created.id)
        assert ended.request_counts.expired == 3 and ended.request_counts.processing == 0
        assert {result.type for result in results_by_id(expiring, created.id).values()} == {"expired"}
        assert _metric(running, 'modelrunner_batch_requests_total{outcome="expired"}') == 3


def test_kill_9_mid_batch_then_restart_loses_and_duplicates_nothing(tmp_path: Path, tiny_gguf: Path) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    requests = [{"custom_id": f"k{n}", "params": params(120)} for n in range(20)]
    server = RunningServer(store.root, tmp_path / "log", env={"MODEL_RUNNER_PARALLEL": "1"})
    with server:
        killed = client_for(server)
        created = killed.messages.batches.create(requests=requests)
        deadline = time.monotonic() + 240
        while _ended_counts(killed, created.id) < 3:
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(POLL_S)
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        finished_before_restart = _stored_results(store.root)
        assert 3 <= len(finished_before_restart) < len(requests)

        server.start()
        restarted = client_for(server)
        assert restarted.messages.batches.retrieve(created.id).processing_status == "in_progress"
        ended = wait_until_ended(restarted, created.id)
        assert ended.request_counts.succeeded == len(requests)
        results = results_by_id(restarted, created.id)
        assert sorted(results) == sorted(request["custom_id"] for request in requests)
        for custom_id, message_id in finished_before_restart.items():
            assert results[custom_id].message.id == message_id, "a finished request ran again"


def _stored_results(store_root: Path) -> dict[str, str]:
    """custom_id -> message id of the results committed in the batch database, read as a crash left it."""
    with contextlib.closing(sqlite3.connect(store_root / "modelrunner-batches.sqlite")) as db:
        rows = db.execute("SELECT custom_id, result FROM requests WHERE outcome IS NOT NULL").fetchall()
    return {custom_id: json.loads(result)["message"]["id"] for custom_id, result in rows}
