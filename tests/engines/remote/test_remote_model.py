"""A registered upstream is a model like any other: listed everywhere, answering the Anthropic, OpenAI
and Ollama clients, over llama.cpp servers and over another modelrunner."""

from __future__ import annotations

import anthropic
import httpx
import jsonschema
import ollama
import openai
import orjson
import pytest

from tests.support.upstream_fixtures import FLEET, PEER, UPSTREAM_KEY, Fleet

CITY_TOOL = {"name": "get_weather", "description": "Get the current weather in a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                              "required": ["city"]}}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
STOPS = ["a", "e", "n", "t"]


def claude(fleet: Fleet) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fleet.front.url, api_key="unused", max_retries=0, timeout=120)


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_an_upstream_is_listed_by_every_model_list_as_engine_remote(fleet: Fleet, name: str) -> None:
    url = fleet.front.url
    listed = {item["tags"][0]: item for item in httpx.get(url + "/models").json()}
    assert listed[name]["config"]["format"] == "remote"
    assert name in [item["id"] for item in httpx.get(url + "/v1/models").json()["data"]]
    assert name in [item["id"] for item in httpx.get(url + "/engines/v1/models").json()["data"]]
    tags = {item["name"]: item for item in httpx.get(url + "/api/tags").json()["models"]}
    assert tags[name]["details"]["format"] == "remote"
    upstreams = {item["name"]: item for item in httpx.get(url + "/engines/upstreams").json()["upstreams"]}
    assert upstreams[name]["engine"] == "remote" and upstreams[name]["model"]


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_anthropic_create_and_stream(fleet: Fleet, name: str) -> None:
    client = claude(fleet)
    message = client.messages.create(model=name, max_tokens=12, messages=ASK_WEATHER)
    assert message.model == name and message.content and message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    with client.messages.stream(model=name, max_tokens=12, messages=ASK_WEATHER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.stop_reason in ("max_tokens", "end_turn") and final.usage.output_tokens > 0


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_forced_tool_yields_that_tool_with_valid_input(fleet: Fleet, name: str) -> None:
    message = claude(fleet).messages.create(model=name, max_tokens=300, messages=ASK_WEATHER, tools=[CITY_TOOL],
                                            tool_choice={"type": "tool", "name": "get_weather"})
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and [call.name for call in calls] == ["get_weather"]
    jsonschema.validate(calls[0].input, CITY_TOOL["input_schema"])


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_count_tokens_is_what_generation_reports(fleet: Fleet, name: str) -> None:
    client = claude(fleet)
    counted = client.messages.count_tokens(model=name, messages=ASK_WEATHER, system="Be brief.")
    message = client.messages.create(model=name, max_tokens=1, messages=ASK_WEATHER, system="Be brief.")
    assert counted.input_tokens == message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_stop_sequences_are_matched_here_and_left_out(fleet: Fleet, name: str) -> None:
    client = claude(fleet)
    message = client.messages.create(model=name, max_tokens=300, messages=ASK_WEATHER, stop_sequences=STOPS)
    assert message.stop_reason == "stop_sequence" and message.stop_sequence in STOPS
    assert not any(stop in block.text for block in message.content for stop in STOPS)
    assert message.usage.output_tokens > 0
    with client.messages.stream(model=name, max_tokens=300, messages=ASK_WEATHER, stop_sequences=STOPS) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and not any(stop in text for stop in STOPS)


@pytest.mark.parametrize("name", [FLEET, PEER])
def test_openai_structured_output_and_stream(fleet: Fleet, name: str) -> None:
    client = openai.OpenAI(base_url=fleet.front.url + "/engines/v1", api_key="unused", max_retries=0, timeout=120)
    schema = {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
              "required": ["city"], "additionalProperties": False}
    completion = client.chat.completions.create(
        model=name, max_tokens=200, temperature=0, messages=ASK_WEATHER,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
    jsonschema.validate(orjson.loads(completion.choices[0].message.content or ""), schema)
    pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model=name, max_tokens=8, messages=ASK_WEATHER, stream=True) if chunk.choices]
    assert "".join(pieces)


def test_ollama_client_chats_with_the_remote_model(fleet: Fleet) -> None:
    client = ollama.Client(host=fleet.front.url)
    answer = client.chat(model=FLEET, messages=ASK_WEATHER, options={"num_predict": 8})
    assert answer.message.content and answer.done
    streamed = "".join(part.message.content or "" for part in client.chat(
        model=PEER, messages=ASK_WEATHER, options={"num_predict": 8}, stream=True))
    assert streamed


def test_a_continuing_conversation_returns_to_its_replica_and_hits_its_cache(fleet: Fleet) -> None:
    client = claude(fleet)
    first_turn = [{"role": "user", "content": "Tell me about the weather in Paris in spring, please. " * 8}]
    first = client.messages.create(model=FLEET, max_tokens=8, messages=first_turn)
    second_turn = [*first_turn, {"role": "assistant", "content": first.content[0].text},
                   {"role": "user", "content": "And in Rome?"}]
    second = client.messages.create(model=FLEET, max_tokens=8, messages=second_turn)
    assert (second.usage.cache_read_input_tokens or 0) >= first.usage.input_tokens // 2


def test_engines_ps_shows_each_replica(fleet: Fleet) -> None:
    claude(fleet).messages.create(model=FLEET, max_tokens=2, messages=ASK_WEATHER)
    running = {entry["model_name"]: entry for entry in httpx.get(fleet.front.url + "/engines/ps").json()}
    replicas = running[FLEET]["replicas"]
    assert running[FLEET]["backend_name"] == "remote"
    assert [replica["url"] for replica in replicas] == [replica.url for replica in fleet.replicas]
    assert all(replica["healthy"] and replica["kind"] == "llama.cpp" and replica["in_flight"] == 0
               for replica in replicas)
    assert any(replica["latency_ms"] is not None for replica in replicas)


def test_the_upstream_key_is_sent_and_never_logged(fleet: Fleet) -> None:
    message = claude(fleet).messages.create(model=PEER, max_tokens=4, messages=ASK_WEATHER)
    assert message.content  # the peer answers only callers with its key
    refused = httpx.post(fleet.peer.url + "/engines/v1/chat/completions",
                         json={"model": "ai/tiny", "messages": ASK_WEATHER, "max_tokens": 2})
    assert refused.status_code == 401
    assert UPSTREAM_KEY not in fleet.front.log()
    assert UPSTREAM_KEY not in httpx.get(fleet.front.url + "/engines/upstreams").text
    stored = (fleet.front.store / "modelrunner-upstreams.json").read_text()
    assert UPSTREAM_KEY not in stored and "MODELRUNNER_TEST_UPSTREAM_KEY" in stored


def test_embeddings_of_a_remote_model_come_from_its_upstream(fleet: Fleet) -> None:
    """Over another modelrunner: the front's vectors are the peer's own, in order, at unit length."""
    texts = ["the cat sat", "a dog ran", "the cat sat"]
    front = openai.OpenAI(base_url=fleet.front.url + "/engines/v1", api_key="unused", max_retries=0, timeout=120)
    peer = openai.OpenAI(base_url=fleet.peer.url + "/engines/v1", api_key=UPSTREAM_KEY, max_retries=0, timeout=120)
    through_front = [item.embedding for item in front.embeddings.create(model=PEER, input=texts).data]
    direct = [item.embedding for item in peer.embeddings.create(model="ai/tiny", input=texts).data]
    assert through_front[0] == pytest.approx(through_front[2]) and through_front[0] != pytest.approx(through_front[1])
    for mine, theirs in zip(through_front, direct, strict=True):
        assert mine == pytest.approx(theirs, abs=1e-5)
        assert sum(value * value for value in mine) == pytest.approx(1.0, abs=1e-4)
