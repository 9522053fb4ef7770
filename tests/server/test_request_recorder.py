"""The request recorder seen through the official SDKs: every API's exchanges appear with the prompt the
model saw (rendered when the record is read, never before), usage and timings; secrets never appear; the
caps hold; the live feed and `--follow` deliver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import ollama
import openai
import orjson
import pexpect
import pytest

from modelrunner.store.store import ModelStore
from tests.support.server import RunningServer

API_KEY = "sk-recorder-test-0123456789abcdef"
KEY_HEADERS = {"x-api-key": API_KEY}
BOUNDED_WAIT_S = 20.0


@pytest.fixture(scope="module")
def keyed_server(tiny_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A runner with an API key, so that the test can look for the key in what was recorded."""
    with RunningServer(tiny_store.root, tmp_path_factory.mktemp("recorder") / "server.log",
                       env={"MODEL_RUNNER_API_KEY": API_KEY}, ready_headers=KEY_HEADERS) as running:
        yield running


def recorded(server: RunningServer, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(server.url + "/engines/requests", params=params, headers=KEY_HEADERS, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recording"] is True
    return body["requests"]


def wait_for_record(server: RunningServer, marker: str) -> dict[str, Any]:
    """Records are written just after the response: poll, within a generous bound."""
    waited = threading.Event()
    for _ in range(int(BOUNDED_WAIT_S / 0.05)):
        found = [r for r in recorded(server) if marker in orjson.dumps(r["request"]).decode()]
        if found:
            assert len(found) == 1
            return found[0]
        waited.wait(0.05)
    raise AssertionError(f"no record of {marker} within {BOUNDED_WAIT_S}s")


def read_record(server: RunningServer, record_id: str) -> dict[str, Any]:
    """One record by id: the read that renders its prompt."""
    answer = httpx.get(server.url + f"/engines/requests/{record_id}", headers=KEY_HEADERS, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ask_anthropic(server: RunningServer, marker: str, stream: bool) -> str:
    client = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
    request: dict[str, Any] = {"model": "ai/tiny", "max_tokens": 8, "system": "Be brief.",
                               "messages": [{"role": "user", "content": marker}]}
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    return "".join(block.text for block in message.content if block.type == "text")


def ask_openai(server: RunningServer, marker: str, stream: bool) -> str:
    client = openai.OpenAI(base_url=server.url + "/engines/v1", api_key=API_KEY, max_retries=0)
    request: dict[str, Any] = {"model": "ai/tiny", "max_tokens": 8,
                               "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": marker}]}
    if not stream:
        return client.chat.completions.create(**request).choices[0].message.content or ""
    chunks = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def ask_ollama(server: RunningServer, marker: str, stream: bool) -> str:
    client = ollama.Client(host=server.url, headers={"Authorization": f"Bearer {API_KEY}"})
    request: dict[str, Any] = {"model": "ai/tiny", "options": {"num_predict": 8},
                               "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": marker}]}
    if stream:
        return "".join(part.message.content or "" for part in client.chat(**request, stream=True))
    return client.chat(**request).message.content or ""


ASKERS: dict[str, Callable[[RunningServer, str, bool], str]] = {
    "anthropic": ask_anthropic, "openai": ask_openai, "ollama": ask_ollama,
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("api", sorted(ASKERS))
def test_each_api_is_recorded_with_the_prompt_the_model_saw(keyed_server: RunningServer, api: str,
                                                            stream: bool) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    answer_text = ASKERS[api](keyed_server, marker, stream)
    listed = wait_for_record(keyed_server, marker)
    assert listed["rendered_prompt"] is None and listed["prompt_on_read"] is True  # not rendered per request
    record = read_record(keyed_server, listed["id"])
    assert record["api"] == api and record["stream"] is stream and record["status"] == 200
    assert record["error"] is None and record["prompt_error"] is None and record["prompt_on_read"] is False
    assert record["model"] == "ai/tiny" and record["served_model"]
    assert marker in record["rendered_prompt"] and "Be brief." in record["rendered_prompt"]
    assert record["rendered_prompt"] != marker  # the chat template's text is around it
    assert wait_for_record(keyed_server, marker) == record  # rendered once, then kept with the record
    assert record["engine_request"]["kind"] == "chat"
    assert any(marker in str(m["content"]) for m in record["engine_request"]["messages"])
    assert record["usage"]["input_tokens"] > 0 and record["usage"]["output_tokens"] > 0
    message = record["response"]["message"]
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == answer_text
    assert message["stop_reason"] in ("length", "stop")
    timings = record["timings"]
    assert timings["duration_ms"] >= timings["ttft_ms"] > 0
    if record["usage"]["output_tokens"] > 1:
        assert timings["tokens_per_s"] > 0
    if stream:
        assert record["response"]["events"] and record["response"]["body"] is None
    else:
        assert record["response"]["body"] and not record["response"]["events"]


def test_responses_are_recorded_as_generations(keyed_server: RunningServer) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    client = openai.OpenAI(base_url=keyed_server.url + "/v1", api_key=API_KEY, max_retries=0)
    answer = client.responses.create(model="ai/tiny", input=marker, instructions="Be brief.", max_output_tokens=8)
    record = read_record(keyed_server, wait_for_record(keyed_server, marker)["id"])
    assert record["api"] == "openai" and record["route"] == "/v1/responses" and record["status"] == 200
    assert marker in record["rendered_prompt"] and "Be brief." in record["rendered_prompt"]
    assert record["usage"]["output_tokens"] == answer.usage.output_tokens
    message = record["response"]["message"]
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == answer.output_text


@pytest.mark.parametrize(("route", "body"), [
    ("/v1/embeddings", {"model": "ai/tiny", "input": ["MARKER"]}),
    ("/api/embed", {"model": "ai/tiny", "input": "MARKER"}),
])
def test_embeddings_are_recorded(keyed_server: RunningServer, route: str, body: dict[str, Any]) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    sent = orjson.loads(orjson.dumps(body).replace(b"MARKER", marker.encode()))
    answer = httpx.post(keyed_server.url + route, json=sent, headers=KEY_HEADERS, timeout=120)
    assert answer.status_code == 200, answer.text
    record = wait_for_record(keyed_server, marker)
    assert record["route"] == route and record["status"] == 200 and record["error"] is None
    assert record["served_model"] and record["response"]["body"]


def test_secrets_and_image_data_are_never_kept(keyed_server: RunningServer) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    image = base64.b64encode(os.urandom(6000)).decode()
    client = anthropic.Anthropic(base_url=keyed_server.url, api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError):  # the tiny model has no projector: refused, and recorded
        client.messages.create(model="ai/tiny", max_tokens=4, messages=[{"role": "user", "content": [
            {"type": "text", "text": marker},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}},
        ]}])
    record = wait_for_record(keyed_server, marker)
    assert record["status"] == 400 and record["error"]
    kept = record["request"]["messages"][0]["content"][1]["source"]["data"]
    assert kept.startswith(image[:16]) and len(kept) < 200
    ask_openai(keyed_server, f"marker-{uuid.uuid4().hex}", True)
    ask_ollama(keyed_server, f"marker-{uuid.uuid4().hex}", False)
    everything = httpx.get(keyed_server.url + "/engines/requests", headers=KEY_HEADERS).text
    assert API_KEY not in everything and image[:200] not in everything
    assert "Bearer" not in everything


def test_a_body_that_is_not_json_is_refused_and_recorded_as_text(keyed_server: RunningServer) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    answer = httpx.post(keyed_server.url + "/v1/messages", headers={**KEY_HEADERS, "content-type": "application/json"},
                        content=b'{"model": "ai/tiny", "messages": [' + marker.encode() + b"\xff", timeout=30)
    assert answer.status_code == 400 and answer.json()["type"] == "error"
    record = wait_for_record(keyed_server, marker)
    assert record["status"] == 400 and record["error"] and isinstance(record["request"], str)


def test_the_feed_delivers_a_new_exchange_as_it_completes(keyed_server: RunningServer) -> None:
    lines: queue.Queue[str] = queue.Queue()

    def follow() -> None:
        headers = {**KEY_HEADERS, "accept": "text/event-stream"}
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", keyed_server.url + "/engines/requests", headers=headers,
                          params={"model": "ai/tiny"}, timeout=BOUNDED_WAIT_S * 2) as feed:
            assert feed.headers["content-type"].startswith("text/event-stream")
            for line in feed.iter_lines():
                lines.put(line)

    threading.Thread(target=follow, daemon=True).start()
    assert lines.get(timeout=BOUNDED_WAIT_S) == ": following"
    marker = f"marker-{uuid.uuid4().hex}"
    ask_anthropic(keyed_server, marker, True)
    while True:
        line = lines.get(timeout=BOUNDED_WAIT_S)
        if line.startswith("data:") and marker in line:
            record = orjson.loads(line[5:])
            assert record["api"] == "anthropic" and record["prompt_on_read"] is True
            assert marker in read_record(keyed_server, record["id"])["rendered_prompt"]
            return


def test_a_completion_keeps_its_own_prompt_without_rendering(keyed_server: RunningServer) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    answer = httpx.post(keyed_server.url + "/v1/completions", headers=KEY_HEADERS, timeout=60,
                        json={"model": "ai/tiny", "prompt": marker, "max_tokens": 2})
    assert answer.status_code == 200, answer.text
    record = wait_for_record(keyed_server, marker)
    assert record["rendered_prompt"] == marker and record["prompt_on_read"] is False
    assert record["engine_request"]["kind"] == "completion"


def test_a_record_read_after_its_runner_is_unloaded_says_so_and_loads_nothing(keyed_server: RunningServer) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    answer_text = ask_anthropic(keyed_server, marker, False)
    record_id = wait_for_record(keyed_server, marker)["id"]
    with httpx.Client(base_url=keyed_server.url, headers=KEY_HEADERS, timeout=60) as http:
        assert http.post("/engines/unload", json={"all": True}).json()["unloaded_runners"] >= 1
        assert http.get("/engines/ps").json() == []
        record = read_record(keyed_server, record_id)
        assert http.get("/engines/ps").json() == []  # reading a record never loads its model
    assert record["rendered_prompt"] is None and record["prompt_on_read"] is False
    assert "not available" in record["prompt_error"] and "no longer loaded" in record["prompt_error"]
    message = record["response"]["message"]  # the rest of the record is as it was
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == answer_text
    assert any(marker in str(m["content"]) for m in record["engine_request"]["messages"])
    assert wait_for_record(keyed_server, marker) == record == read_record(keyed_server, record_id)


def test_requests_follow_prints_each_new_exchange(keyed_server: RunningServer) -> None:
    env = {**os.environ, "MODEL_RUNNER_HOST": keyed_server.url, "MODEL_RUNNER_API_KEY": API_KEY,
           "MODEL_RUNNER_NO_AUTOSTART": "1"}
    follower = subprocess.Popen([sys.executable, "-m", "modelrunner", "requests", "--follow", "--json"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert follower.stderr is not None
        assert follower.stderr.readline().startswith("Following new requests")  # subscribed from here on
        marker = f"marker-{uuid.uuid4().hex}"
        ask_ollama(keyed_server, marker, True)
        while True:
            line = lines.get(timeout=BOUNDED_WAIT_S)
            record = orjson.loads(line)  # one JSON object a line when piped
            if marker in orjson.dumps(record["request"]).decode():
                assert record["api"] == "ollama" and record["usage"]["output_tokens"] > 0
                assert marker in record["rendered_prompt"]  # --json reads each record whole
                break
    finally:
        follower.terminate()
        follower.wait(10)


def test_requests_shows_a_table_on_a_terminal_and_filters_by_model(keyed_server: RunningServer) -> None:
    ask_openai(keyed_server, f"marker-{uuid.uuid4().hex}", False)
    env = {**os.environ, "MODEL_RUNNER_HOST": keyed_server.url, "MODEL_RUNNER_API_KEY": API_KEY,
           "MODEL_RUNNER_NO_AUTOSTART": "1"}
    terminal = pexpect.spawn(sys.executable, ["-m", "modelrunner", "requests", "--model", "ai/tiny"], env=env,
                             encoding="utf-8", timeout=60, dimensions=(50, 200))
    output = re.sub(r"\x1b\[[0-9;]*m", "", terminal.read())  # rich colours the table on a terminal
    terminal.close()
    assert terminal.exitstatus == 0, output
    header, *rows = [line for line in output.splitlines() if line.strip()]
    assert header.split()[:3] == ["TIME", "API", "MODEL"]
    assert rows and all("ai/tiny" in row for row in rows)
    assert any("openai" in row and "/engines/v1/chat/completions" in row for row in rows)
    none = subprocess.run([sys.executable, "-m", "modelrunner", "requests", "--model", "ai/other", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert none.returncode == 0 and none.stdout == ""


def test_caps_hold_under_a_thousand_requests(tiny_store: ModelStore, tmp_path: Path) -> None:
    per_model, max_bytes = 10, 96 * 1024
    env = {"MODEL_RUNNER_RECORD_PER_MODEL": str(per_model), "MODEL_RUNNER_RECORD_MAX_BYTES": str(max_bytes)}
    with RunningServer(tiny_store.root, tmp_path / "server.log", env=env) as server:
        async def send_all() -> list[int]:
            limit = asyncio.Semaphore(8)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                async def one(i: int) -> int:
                    model = "ai/tiny" if i % 2 else f"ai/missing-{i}"
                    async with limit:
                        answer = await client.post("/v1/chat/completions", json={
                            "model": model, "max_tokens": 1, "messages": [{"role": "user", "content": f"n{i}"}]})
                    return answer.status_code
                return await asyncio.gather(*(one(i) for i in range(1000)))

        statuses = asyncio.run(send_all())
        assert statuses.count(200) == 500 and statuses.count(404) == 500
        last = f"marker-{uuid.uuid4().hex}"
        httpx.post(server.url + "/v1/chat/completions", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 1, "messages": [{"role": "user", "content": last}]})
        for _ in range(int(BOUNDED_WAIT_S / 0.05)):
            records = httpx.get(server.url + "/engines/requests").json()["requests"]
            if any(last in orjson.dumps(r["request"]).decode() for r in records):
                break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the last request was not recorded")
        assert 0 < sum(r["model"] == "ai/tiny" for r in records) <= per_model
        assert sum(len(orjson.dumps(r)) for r in records) <= max_bytes
        assert len(records) > per_model  # the unknown models are kept too, within the byte cap
        assert httpx.get(server.url + "/engines/requests", params={"limit": 3}).json()["requests"] == records[-3:]

        # A record larger than the whole cap is dropped with one log line; its request is answered as ever.
        huge = "too long for the cap " * 8000
        refused = httpx.post(server.url + "/v1/messages", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 1, "messages": [{"role": "user", "content": huge}]})
        assert refused.status_code == 400 and "prompt is too long" in refused.json()["error"]["message"]
        served = httpx.post(server.url + "/v1/messages", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 1, "messages": [{"role": "user", "content": "after"}]})
        assert served.status_code == 200
        for _ in range(int(BOUNDED_WAIT_S / 0.05)):
            if "larger than the cap" in server.log():
                break
            threading.Event().wait(0.05)
        assert server.log().count("larger than the cap") == 1

        # A record that fits the cap only without the engine request kept to render its prompt is kept without it.
        marker = f"marker-{uuid.uuid4().hex}"
        httpx.post(server.url + "/v1/messages", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 1, "messages": [{"role": "user", "content": marker + " fill" * 8000}]})
        for _ in range(int(BOUNDED_WAIT_S / 0.05)):
            records = httpx.get(server.url + "/engines/requests").json()["requests"]
            if any(marker in orjson.dumps(r["request"]).decode() for r in records):
                break
            threading.Event().wait(0.05)
        [record] = [r for r in records if marker in orjson.dumps(r["request"]).decode()]
        assert record["prompt_on_read"] is False and "too large" in record["prompt_error"]
        assert len(orjson.dumps(record)) <= max_bytes < 3 * len(marker + " fill" * 8000)

        # A followed feed ends cleanly when the server stops, instead of holding up its shutdown.
        ended: queue.Queue[str] = queue.Queue()

        def follow() -> None:
            try:
                with httpx.stream("GET", server.url + "/engines/requests", timeout=BOUNDED_WAIT_S * 3,
                                  headers={"accept": "text/event-stream"}) as feed:
                    for line in feed.iter_lines():
                        if line == ": following":
                            ended.put("following")
                ended.put("ended")
            except httpx.HTTPError as exc:
                ended.put(f"broken: {exc!r}")

        threading.Thread(target=follow, daemon=True).start()
        assert ended.get(timeout=BOUNDED_WAIT_S) == "following"
        server.stop()
        assert ended.get(timeout=BOUNDED_WAIT_S) == "ended"


def test_recording_off(tiny_store: ModelStore, tmp_path: Path) -> None:
    with RunningServer(tiny_store.root, tmp_path / "server.log", env={"MODEL_RUNNER_RECORD": "0"}) as server:
        answer = httpx.post(server.url + "/v1/messages", timeout=60, json={
            "model": "ai/tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200
        assert httpx.get(server.url + "/engines/requests").json() == {"recording": False, "requests": []}
        feed = httpx.get(server.url + "/engines/requests", headers={"accept": "text/event-stream"})
        assert feed.status_code == 404
