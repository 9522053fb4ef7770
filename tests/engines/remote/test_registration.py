"""Registering upstreams: every bad input is a clear 4xx in the envelope naming what failed, and the
runner keeps serving; registrations survive a restart."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.support.server import RunningServer, free_port
from tests.support.upstream_fixtures import FLEET, UPSTREAMS_ON, Fleet

ASK = [{"role": "user", "content": "Hello"}]


def error_of(response: httpx.Response) -> str:
    return response.json()["error"]["message"]


def test_an_unreachable_url_is_refused_unless_allowed(fleet: Fleet) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    refused = fleet.register({"name": "team/dead", "urls": [fleet.replicas[0].url, dead]})
    assert refused.status_code == 400
    assert dead in error_of(refused) and "unreachable" in error_of(refused) and "allow_unreachable" in error_of(refused)
    allowed = fleet.register({"name": "team/partial", "urls": [fleet.replicas[0].url, dead], "allow_unreachable": True})
    assert allowed.status_code == 201, allowed.text
    try:
        client = anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)
        for _ in range(3):
            assert client.messages.create(model="team/partial", max_tokens=2, messages=ASK).content
        running = {entry["model_name"]: entry for entry in httpx.get(fleet.front.url + "/engines/ps").json()}
        health = {replica["url"]: replica["healthy"] for replica in running["team/partial"]["replicas"]}
        assert health == {fleet.replicas[0].url: True, dead: False}
    finally:
        assert httpx.delete(fleet.front.url + "/engines/upstreams/team/partial").status_code == 200
    gone = httpx.post(fleet.front.url + "/v1/messages", json={"model": "team/partial", "max_tokens": 2, "messages": ASK})
    assert gone.status_code == 404 and gone.json()["type"] == "error"


def test_a_server_that_is_not_openai_compatible_is_named(fleet: Fleet) -> None:
    refused = fleet.register({"name": "team/other", "urls": [fleet.front.url + "/api"]})
    assert refused.status_code == 400
    assert "not an OpenAI-compatible server" in error_of(refused) and fleet.front.url + "/api" in error_of(refused)


def test_a_model_the_upstream_does_not_serve_is_named(fleet: Fleet) -> None:
    refused = fleet.register({"name": "team/other", "urls": [fleet.replicas[0].url], "model": "Qwen/Qwen3-8B"})
    assert refused.status_code == 400
    assert "does not serve model 'Qwen/Qwen3-8B'" in error_of(refused)


@pytest.mark.parametrize("body", [
    {"urls": ["http://127.0.0.1:1/v1"]},
    {"name": "x", "urls": "http://127.0.0.1:1/v1"},
    {"name": "x", "urls": []},
    {"name": "x", "urls": ["ftp://127.0.0.1/v1"]},
    {"name": "x", "urls": ["http://user:pw@127.0.0.1:1/v1"]},
    {"name": "../x", "urls": ["http://127.0.0.1:1/v1"]},
    {"name": "x", "urls": ["http://127.0.0.1:1/v1"], "max_concurrency": 0},
    {"name": "x", "urls": ["http://127.0.0.1:1/v1"], "api_key_env": "not a name"},
    {"name": "x", "urls": ["http://127.0.0.1:1/v1"], "api_key_env": "MODELRUNNER_TEST_UNSET_VARIABLE"},
    {"name": "x", "urls": ["http://127.0.0.1:1/v1"], "surprise": True},
    {"name": "x", "urls": ["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1/"]},
])
def test_a_malformed_body_is_a_400(fleet: Fleet, body: dict[str, object]) -> None:
    response = fleet.register(body)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_not_json_and_a_duplicate_name(fleet: Fleet) -> None:
    response = httpx.post(fleet.front.url + "/engines/upstreams", content=b"{nope",
                          headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in error_of(response)
    duplicate = fleet.register({"name": FLEET, "urls": [fleet.replicas[0].url]})
    assert duplicate.status_code == 409 and "already registered" in error_of(duplicate)
    missing = httpx.delete(fleet.front.url + "/engines/upstreams/team/never")
    assert missing.status_code == 404


def test_removing_an_upstream_while_it_streams_ends_that_stream_cleanly(fleet: Fleet) -> None:
    assert fleet.register({"name": "team/brief", "urls": [fleet.replicas[1].url]}).status_code == 201
    body = {"model": "team/brief", "max_tokens": 12000, "stream": True, "messages": ASK}
    with httpx.stream("POST", fleet.front.url + "/v1/messages", json=body, timeout=120) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        seen = [next(lines) for _ in range(12)]
        assert httpx.delete(fleet.front.url + "/engines/upstreams/team/brief").status_code == 200
        rest = "\n".join([*seen, *lines])
    assert "event: error" in rest or "event: message_stop" in rest
    assert rest.rstrip().endswith("}")
    client = anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)
    assert client.messages.create(model=FLEET, max_tokens=2, messages=ASK).content
    assert "team/brief" not in httpx.get(fleet.front.url + "/engines/upstreams").text


def test_registrations_survive_a_restart_and_load_only_while_upstreams_are_on(
        fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> None:
    store, logs = tmp_path_factory.mktemp("restart-store"), tmp_path_factory.mktemp("logs")
    with RunningServer(store, logs / "on.log", env=UPSTREAMS_ON) as server:
        added = httpx.post(server.url + "/engines/upstreams", timeout=60,
                           json={"name": "lab/tiny", "urls": [fleet.replicas[0].url], "max_concurrency": 3})
        assert added.status_code == 201, added.text
    with RunningServer(store, logs / "off.log") as server:  # started without MODEL_RUNNER_UPSTREAMS
        assert httpx.get(server.url + "/engines/upstreams").json() == {"upstreams": []}
        assert "lab/tiny" not in httpx.get(server.url + "/v1/models").text
        answer = httpx.post(server.url + "/v1/messages", json={"model": "lab/tiny", "max_tokens": 2, "messages": ASK})
        assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"
    with RunningServer(store, logs / "on-again.log", env=UPSTREAMS_ON) as server:
        listed = httpx.get(server.url + "/engines/upstreams").json()["upstreams"]
        assert [(item["name"], item["max_concurrency"]) for item in listed] == [("lab/tiny", 3)]
        answer = httpx.post(server.url + "/v1/messages", timeout=60,
                            json={"model": "lab/tiny", "max_tokens": 2, "messages": ASK})
        assert answer.status_code == 200 and answer.json()["model"] == "lab/tiny"


def test_registering_is_refused_while_upstreams_are_off(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Off by default: the runner must not fetch a caller's URL; the 403 names the setting that allows it."""
    with RunningServer(tmp_path_factory.mktemp("off-store"), tmp_path_factory.mktemp("logs") / "off.log") as server:
        refused = httpx.post(server.url + "/engines/upstreams", timeout=60,
                             json={"name": "lab/tiny", "urls": [fleet.replicas[0].url]})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"
        assert "MODEL_RUNNER_UPSTREAMS=1" in error_of(refused)
        assert not (server.store / "modelrunner-upstreams.json").exists()
        assert fleet.replicas[0].url not in server.log()
        assert list(httpx.get(server.url + "/engines/status").json()) == ["llama.cpp"]  # no remote engine built
