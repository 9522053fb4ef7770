"""What Claude Code reads from a gateway: `GET /v1/models?limit=1000` in Anthropic's shape with the
configured `claude-*` aliases named after the local model serving them, and usage on the stream's
message_start (best known then) and final message_delta (in full)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from modelrunner.store.store import ModelStore
from tests.support.anthropic_stream import parse_sse
from tests.support.server import RunningServer

ALIASES = "claude-sonnet-4-5=ai/tiny,claude-haiku-4-5=ai/tiny,claude-gone=ai/not-here,plain=ai/tiny"


@pytest.fixture(scope="module")
def gateway(tiny_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with RunningServer(tiny_store.root, tmp_path_factory.mktemp("logs") / "gateway.log",
                       env={"MODEL_RUNNER_ALIASES": ALIASES}) as running:
        yield running


@pytest.mark.parametrize("prefix", ["", "/anthropic"])
def test_models_list_in_anthropic_shape_names_claude_aliases_by_their_local_model(gateway: RunningServer,
                                                                                   prefix: str) -> None:
    answer = httpx.get(gateway.url + prefix + "/v1/models", params={"limit": 1000}, timeout=30)
    assert answer.status_code == 200
    body = answer.json()
    assert body["has_more"] is False
    ids = [entry["id"] for entry in body["data"]]
    assert body["first_id"] == ids[0] and body["last_id"] == ids[-1]
    assert ids[:2] == ["claude-haiku-4-5", "claude-sonnet-4-5"]  # configured and present; others left out
    assert "claude-gone" not in ids and "plain" not in ids and "ai/tiny:latest" in ids
    for entry in body["data"]:
        assert entry["type"] == "model" and entry["created_at"].endswith("Z") and entry["display_name"]
    by_id = {entry["id"]: entry for entry in body["data"]}
    assert by_id["claude-sonnet-4-5"]["display_name"] == "claude-sonnet-4-5 (local: ai/tiny:latest)"
    listed = anthropic.Anthropic(base_url=gateway.url + prefix, api_key="x", max_retries=0).models.list(limit=1000)
    assert [model.id for model in listed] == ids


def _events(gateway: RunningServer, **body: object) -> list[dict]:
    with httpx.stream("POST", gateway.url + "/v1/messages", timeout=60, json={
            "model": "claude-sonnet-4-5", "max_tokens": 8, "stream": True, "temperature": 0, **body}) as answer:
        assert answer.status_code == 200
        return [event for name, event in parse_sse(answer.read()) if name != "ping"]


def test_final_message_delta_carries_full_usage_and_a_repeat_reads_the_cache(gateway: RunningServer) -> None:
    messages = [{"role": "user", "content": "the cat sat on the mat " * 20}]
    first = _events(gateway, messages=messages)
    second = _events(gateway, messages=messages)
    for events in (first, second):
        assert events[0]["type"] == "message_start" and events[-2]["type"] == "message_delta"
        usage = events[-2]["usage"]
        assert set(usage) >= {"input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                              "output_tokens"}
        assert usage["output_tokens"] > 0
    total = first[-2]["usage"]["input_tokens"] + first[-2]["usage"]["cache_read_input_tokens"]
    assert second[-2]["usage"]["cache_read_input_tokens"] > 0
    assert second[-2]["usage"]["input_tokens"] + second[-2]["usage"]["cache_read_input_tokens"] == total


def test_message_start_reports_input_tokens_once_they_were_counted(gateway: RunningServer) -> None:
    """A body that could overflow the context is counted before the stream starts: with the test
    servers' 2048-token context, every body could (the template allowance alone is 4 kB)."""
    events = _events(gateway, messages=[{"role": "user", "content": "the dog sat on the rug " * 30}])
    start = events[0]["message"]["usage"]
    final = events[-2]["usage"]
    assert start["input_tokens"] > 0
    assert start["input_tokens"] == final["input_tokens"] + final["cache_read_input_tokens"]
