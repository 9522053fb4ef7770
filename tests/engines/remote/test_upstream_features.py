"""What issue #12 promises of a registered upstream beyond the basics: its aliases and `claude-*` names,
its registered context window, its per-replica max_concurrency with the runner's queue in front, and
an upstream that cannot tokenise (a plain OpenAI-compatible server), which still relays exactly and
says by name that it cannot count."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.support.server import free_port
from tests.support.upstream_fixtures import CLAUDE_ALIAS, FLEET, FLEET_ALIAS, Fleet

ASK = [{"role": "user", "content": "Hello there"}]
SYNTHETIC_UPSTREAM = Path(__file__).resolve().parents[3] / "bench" / "synthetic_upstream.py"
SYNTHETIC_TOKEN = " word"  # what the synthetic upstream streams, once per token


def claude(fleet: Fleet) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)


def test_aliases_and_claude_names_reach_a_remote_model_on_every_api(fleet: Fleet) -> None:
    client = claude(fleet)
    assert client.messages.create(model=CLAUDE_ALIAS, max_tokens=2, messages=ASK).content
    # a claude-* name with no alias is the default model, here the upstream
    assert client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=2, messages=ASK).content
    chat = openai.OpenAI(base_url=fleet.front.url + "/engines/v1", api_key="unused", max_retries=0, timeout=120)
    assert chat.chat.completions.create(model=FLEET_ALIAS, max_tokens=2, messages=ASK).choices[0].message.content
    assert ollama.Client(host=fleet.front.url).chat(model=FLEET_ALIAS, messages=ASK, options={"num_predict": 2}).done


def test_the_registered_context_size_bounds_a_streamed_prompt_with_the_apis_own_400(fleet: Fleet) -> None:
    added = fleet.register({"name": "team/narrow", "urls": [fleet.replicas[0].url], "context_size": 256})
    assert added.status_code == 201, added.text
    try:
        long_prompt = [{"role": "user", "content": "word " * 600}]
        with pytest.raises(anthropic.BadRequestError) as refused:
            with claude(fleet).messages.stream(model="team/narrow", max_tokens=4, messages=long_prompt) as stream:
                stream.get_final_message()
        assert "prompt is too long" in str(refused.value) and "256 maximum" in str(refused.value)
        assert claude(fleet).messages.create(model="team/narrow", max_tokens=2, messages=ASK).content
    finally:
        assert httpx.delete(fleet.front.url + "/engines/upstreams/team/narrow").status_code == 200


def test_max_concurrency_queues_requests_beyond_it_instead_of_failing_them(fleet: Fleet) -> None:
    """One request at a time per replica: the runner has one slot, requests beyond it wait in its queue
    and are all answered, and none is ever seen in flight beside another."""
    added = fleet.register({"name": "team/serial", "urls": [fleet.replicas[1].url], "max_concurrency": 1})
    assert added.status_code == 201, added.text
    answers: list[anthropic.types.Message] = []
    seen_in_flight: list[int] = []
    try:
        askers = [threading.Thread(target=lambda n=n: answers.append(claude(fleet).messages.create(
            model="team/serial", max_tokens=64, messages=[{"role": "user", "content": f"Story {n}"}])))
            for n in range(4)]
        for asker in askers:
            asker.start()
        while any(asker.is_alive() for asker in askers):
            running = {entry["model_name"]: entry for entry in httpx.get(fleet.front.url + "/engines/ps").json()}
            if "team/serial" in running:
                entry = running["team/serial"]
                assert entry["parallel_slots"] == 1
                replicas = entry.get("replicas") or ()  # none listed while the runner starts
                seen_in_flight += [entry["active_requests"], *(replica["in_flight"] for replica in replicas)]
        for asker in askers:
            asker.join()
        assert len(answers) == 4 and all(answer.content for answer in answers)
        assert seen_in_flight and max(seen_in_flight) <= 1
    finally:
        assert httpx.delete(fleet.front.url + "/engines/upstreams/team/serial").status_code == 200


@pytest.fixture(scope="module")
def plain_upstream() -> Iterator[str]:
    """bench/synthetic_upstream.py, a bench tool: an OpenAI-compatible server with no tokenizer and no
    way to render a conversation, standing in for the servers of that kind that cannot run here (hosted
    APIs, TGI). It streams SYNTHETIC_TOKEN once per requested token, then usage."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SYNTHETIC_UPSTREAM), str(port)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def test_an_upstream_that_cannot_tokenise_relays_exactly_and_names_itself_when_asked_to_count(
        fleet: Fleet, plain_upstream: str) -> None:
    added = fleet.register({"name": "lab/plain", "urls": [plain_upstream]})
    assert added.status_code == 201, added.text
    try:
        client = claude(fleet)
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.count_tokens(model="lab/plain", messages=ASK)
        assert "upstream lab/plain" in str(refused.value) and "cannot count tokens" in str(refused.value)
        for tokens in (1, 7, 5000):  # one event, a few, and many reads' worth
            with client.messages.stream(model="lab/plain", max_tokens=tokens, messages=ASK) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            assert text == SYNTHETIC_TOKEN * tokens
            assert final.usage.output_tokens == tokens and final.stop_reason == "max_tokens"
        created = client.messages.create(model="lab/plain", max_tokens=9, messages=ASK)
        assert created.content[0].text == SYNTHETIC_TOKEN * 9
    finally:
        assert httpx.delete(fleet.front.url + "/engines/upstreams/lab/plain").status_code == 200
