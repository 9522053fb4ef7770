"""The official Anthropic TypeScript SDK's Message Batches calls against a real server on the tiny model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import RunningServer

HERE = Path(__file__).parent
SDK = HERE / "node_modules" / "@anthropic-ai" / "sdk"


@pytest.fixture(scope="module")
def report(server: RunningServer) -> dict:
    if shutil.which("node") is None or not SDK.exists():
        pytest.fail("the TypeScript SDK is not installed: run scripts/setup.sh --test (needs node and npm)")
    done = subprocess.run(["node", str(HERE / "batches_check.mjs"), server.url, "ai/tiny"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


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
