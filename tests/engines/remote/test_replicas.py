"""Several replicas behind one name: a replica killed between requests or mid-stream costs no request
that had not started and gives a clean error event to the one it was streaming, and it comes back
into the rotation when it answers again."""

from __future__ import annotations

import time

import anthropic
import httpx

from tests.support.upstream_fixtures import FLEET, PEER, Fleet
from tests.support.upstreams import LlamaCppServer

ASK = [{"role": "user", "content": "Hello there"}]
RECOVERY_WAIT_S = 60.0


def replicas_of(fleet: Fleet) -> dict[str, dict[str, object]]:
    running = {entry["model_name"]: entry for entry in httpx.get(fleet.front.url + "/engines/ps").json()}
    return {replica["url"]: replica for replica in running[FLEET]["replicas"]}


def restart_and_wait_healthy(fleet: Fleet, replica: LlamaCppServer) -> None:
    replica.start()
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while not replicas_of(fleet)[replica.url]["healthy"]:
        assert time.monotonic() < deadline, replicas_of(fleet)
        time.sleep(0.2)


def test_a_replica_killed_between_requests_costs_no_request(fleet: Fleet) -> None:
    client = anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)
    client.messages.create(model=FLEET, max_tokens=2, messages=ASK)
    victim = fleet.replicas[0]
    victim.kill()
    try:
        for turn in range(4):
            asked = [{"role": "user", "content": f"Question {turn}"}]
            assert client.messages.create(model=FLEET, max_tokens=2, messages=asked).content
        state = replicas_of(fleet)
        assert state[victim.url]["healthy"] is False and state[fleet.replicas[1].url]["healthy"] is True
    finally:
        restart_and_wait_healthy(fleet, victim)
    served_before = replicas_of(fleet)[victim.url]["served"]
    for turn in range(4):
        client.messages.create(model=FLEET, max_tokens=2, messages=[{"role": "user", "content": f"Again {turn}"}])
    assert replicas_of(fleet)[victim.url]["served"] > served_before  # back in the rotation


def test_a_replica_killed_mid_stream_ends_that_stream_with_an_error_event(fleet: Fleet) -> None:
    body = {"model": FLEET, "max_tokens": 12000, "stream": True, "messages": ASK}
    with httpx.stream("POST", fleet.front.url + "/v1/messages", json=body, timeout=120) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        seen = []
        for line in lines:
            seen.append(line)
            if line.startswith("event: content_block_delta"):
                break
        serving = [url for url, replica in replicas_of(fleet).items() if replica["in_flight"]]
        assert len(serving) == 1
        victim = next(replica for replica in fleet.replicas if replica.url == serving[0])
        victim.kill()
        rest = list(lines)
    try:
        assert "event: error" in rest and "event: message_stop" not in rest
        error_line = rest[rest.index("event: error") + 1]
        assert '"type":"error"' in error_line.replace(" ", "") and "dropped the connection" in error_line
        client = anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)
        assert client.messages.create(model=FLEET, max_tokens=2, messages=ASK).content
    finally:
        restart_and_wait_healthy(fleet, victim)


def test_a_busy_upstream_is_our_own_overload_error_with_retry_after(fleet: Fleet) -> None:
    body = {"model": PEER, "max_tokens": 1900, "stream": True, "messages": ASK}
    with httpx.stream("POST", fleet.front.url + "/v1/messages", json=body, timeout=120) as response:
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("event: content_block_delta"):
                break
        busy = httpx.post(fleet.front.url + "/v1/messages", timeout=60,
                          json={"model": PEER, "max_tokens": 2, "messages": ASK})
        assert "event: message_stop" in list(lines)
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
    assert busy.json()["error"]["type"] == "rate_limit_error"
    assert busy.json()["error"]["message"].startswith(f"upstream {PEER} is busy")
    assert anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0).messages.create(
        model=PEER, max_tokens=2, messages=ASK).content
