"""The Responses API through the official `openai` SDK, on a real server with the tiny model."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel, ConfigDict

from tests.support.server import RunningServer

MODEL = "ai/tiny"
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                   "required": ["city"], "additionalProperties": False},
}
STREAM_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
                 "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done"]


@pytest.fixture(scope="module")
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_create_with_a_string_input(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Say hi", instructions="Be brief",
                                       max_output_tokens=8, temperature=0)
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text
    assert response.usage.output_tokens == 8 and response.usage.input_tokens > 0
    assert response.instructions == "Be brief"
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"


def test_stream_sends_the_events_of_a_text_answer(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=MODEL, input="Tell me", max_output_tokens=6, stream=True))
    kinds = [event.type for event in events]
    for kind in STREAM_EVENTS:
        assert kind in kinds, kind
    assert kinds[0] == "response.created" and kinds[-1] == "response.incomplete"  # cut at max_output_tokens
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas and final.output_text == deltas
    assert final.usage.output_tokens == 6
    assert client.responses.retrieve(final.id).output_text == deltas


def test_a_function_call_round_trip_continues_from_the_previous_response(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL],
                                    tool_choice="required", max_output_tokens=400)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather"
    assert json.loads(call.arguments)["city"] in ("Paris", "Rome")
    second = client.responses.create(
        model=MODEL, previous_response_id=first.id, tools=[WEATHER_TOOL], max_output_tokens=8,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert second.previous_response_id == first.id
    assert second.output_text
    assert second.usage.input_tokens > first.usage.input_tokens  # the call and its output were in the prompt


def test_streamed_function_call_arguments(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="Weather?", tools=[WEATHER_TOOL],
                                 tool_choice={"type": "function", "name": "get_weather"},
                                 max_output_tokens=400) as stream:
        events = list(stream)
        final = stream.get_final_response()  # the SDK's accumulated answer, from response.completed
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    [call] = [item for item in final.output if item.type == "function_call"]
    done = next(event for event in events if event.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == json.loads(call.arguments)


def test_stored_responses_chain_list_and_delete(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada.", max_output_tokens=4)
    second = client.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id,
                                     max_output_tokens=4)
    assert second.usage.input_tokens > first.usage.input_tokens
    assert client.responses.retrieve(first.id).output_text == first.output_text
    items = client.responses.input_items.list(second.id)
    assert [item.content[0].text for item in items.data] == ["What is my name?"]
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as gone:
        client.responses.create(model=MODEL, input="again", previous_response_id=first.id, max_output_tokens=2)
    assert "previous_response_id" in str(gone.value)


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="forget me", store=False, max_output_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: bool


def test_structured_output_parses(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model=MODEL, input="Is it raining?", text_format=Answer, max_output_tokens=400)
    assert isinstance(parsed.output_parsed, Answer)


@pytest.mark.parametrize("route", ["/responses", "/engines/responses", "/engines/v1/responses",
                                   "/engines/llama.cpp/v1/responses"])
def test_every_route_answers(server: RunningServer, route: str) -> None:
    answer = httpx.post(server.url + route, json={"model": MODEL, "input": "hi", "max_output_tokens": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["object"] == "response"


def test_hosted_tools_are_not_offered_to_the_model(server: RunningServer) -> None:
    body = {"model": MODEL, "input": "hi", "max_output_tokens": 2,
            "tools": [{"type": "web_search"}, {"type": "namespace", "name": "agents", "tools": []}]}
    answer = httpx.post(server.url + "/v1/responses", json=body)
    assert answer.status_code == 200, answer.text
    assert [item["type"] for item in answer.json()["output"]] == ["message"]


@pytest.mark.parametrize(("body", "fragment"), [
    ({"input": ""}, "input"),
    ({"input": [{"type": "web_search_call"}]}, "not supported"),
    ({"input": "x", "tools": [{"type": "function", "parameters": {}}]}, "needs a name"),
    ({"input": "x", "previous_response_id": "resp_nope"}, "previous_response_id"),
    ({"input": "x", "text": {"format": {"type": "json_schema"}}}, "text.format"),
    ({"input": [{"role": "wizard", "content": "x"}]}, "role"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": 10**12}, "max_output_tokens"),
    ({"input": "x", "text": {"format": "json"}}, "text.format"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "none"}]}, "tools[0].parameters"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]}, "string `text`"),
])
def test_bad_input_is_a_clear_400(server: RunningServer, body: dict, fragment: str) -> None:
    answer = httpx.post(server.url + "/v1/responses", json={"model": MODEL, **body})
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]["message"]


@pytest.mark.parametrize("query", [{"limit": "many"}, {"limit": "0"}, {"limit": "9" * 5000}, {"order": "sideways"}])
def test_bad_input_items_queries_are_a_400_in_openais_envelope(client: openai.OpenAI, server: RunningServer,
                                                                 query: dict) -> None:
    stored = client.responses.create(model=MODEL, input="list me", max_output_tokens=2)
    answer = httpx.get(f"{server.url}/v1/responses/{stored.id}/input_items", params=query)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == next(iter(query))


def test_input_items_pages_in_either_order(client: openai.OpenAI) -> None:
    texts = ["one", "two", "three"]
    stored = client.responses.create(model=MODEL, max_output_tokens=2,
                                     input=[{"role": "user", "content": text} for text in texts])
    ascending = client.responses.input_items.list(stored.id, order="asc", limit=2)
    assert [item.content[0].text for item in ascending.data] == ["one", "two"] and ascending.has_more
    rest = client.responses.input_items.list(stored.id, order="asc", after=ascending.last_id)
    assert [item.content[0].text for item in rest.data] == ["three"] and not rest.has_more
    every = [item.content[0].text for item in client.responses.input_items.list(stored.id, order="desc")]
    assert every == texts[::-1]  # the SDK pages through `after` by itself


def test_instructions_are_not_carried_to_the_next_response(client: openai.OpenAI) -> None:
    long_instructions = "Answer in the style of a very formal letter. " * 8
    first = client.responses.create(model=MODEL, input="hi", instructions=long_instructions, max_output_tokens=2)
    second = client.responses.create(model=MODEL, input="again", previous_response_id=first.id,
                                     max_output_tokens=2)
    assert second.instructions is None
    # The second prompt holds the first's input and output, not its ~360 tokens of instructions.
    assert second.usage.input_tokens < first.usage.input_tokens


def test_a_store_false_response_cannot_be_continued(client: openai.OpenAI) -> None:
    unstored = client.responses.create(model=MODEL, input="forget me", store=False, max_output_tokens=2)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="go on", previous_response_id=unstored.id, max_output_tokens=2)
    assert refused.value.param == "previous_response_id"


def test_unknown_response_is_a_404(server: RunningServer) -> None:
    for method, path in (("GET", "/v1/responses/resp_x"), ("GET", "/v1/responses/resp_x/input_items"),
                         ("DELETE", "/v1/responses/resp_x")):
        answer = httpx.request(method, server.url + path)
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "not_found_error"


def test_the_default_model_answers_and_continues(default_model_server: RunningServer) -> None:
    smol = openai.OpenAI(base_url=default_model_server.url + "/v1", api_key="unused", max_retries=0)
    first = smol.responses.create(model="ai/smollm2", input="What is the capital of France? One word.",
                                  temperature=0, max_output_tokens=16)
    assert first.output_text.strip()
    second = smol.responses.create(model="ai/smollm2", input="And of Italy?", previous_response_id=first.id,
                                   temperature=0, max_output_tokens=16)
    assert second.output_text.strip() and second.usage.input_tokens > first.usage.input_tokens
