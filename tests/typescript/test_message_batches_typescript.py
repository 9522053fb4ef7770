"""The official Anthropic TypeScript SDK's Message Batches calls against a real server on the tiny model."""

from __future__ import annotations


import pytest

from tests.support.server import RunningServer
from tests.typescript.sdk_runner import run_sdk_check

@pytest.fixture(scope="module")
def report(server: RunningServer) -> dict:
    return run_sdk_check(server, "batches_check.mjs")


def test_create_poll_results_list_delete(report: dict) -> None:
    created, ended = report["created"], report["ended"]
    assert created["id"].startswith("msgbatch_") and created["processing_status"] == "in_progress"
    assert ended["processing_status"] == "ended" and ended["results_url"].endswith(f"/{created['id']}/results")
    assert ended["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 0}
    results = {line["custom_id"]: line["result"] for line in report["results"]}
    assert results["ok"]["type"] == "succeeded" and results["ok"]["message"]["type"] == "message"
    assert results["missing-model"]["type"] == "errored"
    assert results["missing-model"]["error"]["error"]["type"] == "not_found_error"
    assert report["listed"][0] == created["id"] and len(report["listed"]) == len(set(report["listed"]))
    assert report["deleted"] == {"id": created["id"], "type": "message_batch_deleted"}


def test_a_bad_batch_is_a_typed_400(report: dict) -> None:
    bad = report["badBatch"]
    assert bad["status"] == 400 and bad["type"] == "invalid_request_error" and "requests.0.custom_id" in bad["message"]
