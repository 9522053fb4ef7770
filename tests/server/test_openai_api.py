"""The official OpenAI SDK against a real server on the tiny model."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import openai
import pytest

from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/engines/v1", api_key="not-needed", max_retries=0)


def test_create_answers_and_echoes_the_requested_name(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=12, seed=1
    )
    choice = completion.choices[0]
    assert completion.model == "ai/tiny"
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason == "length"
    assert completion.usage.completion_tokens == 12
    assert completion.usage.prompt_tokens > 0


def test_stream_delivers_deltas_then_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Tell me"}], max_tokens=20, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text
    assert finishes == ["length"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 20
    assert all(c.model == "tiny" for c in chunks)


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "x"}], max_tokens=3, stream=True))
    assert all(c.choices for c in chunks)


def test_json_schema_output_parses_and_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "A person"}], max_tokens=200, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content), schema)


def test_json_object_output_parses(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "json"}], max_tokens=200, seed=5,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_stop_sequences_end_the_answer_without_the_stop_text(client: openai.OpenAI) -> None:
    free = client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "go"}], max_tokens=60, temperature=0)
    text = free.choices[0].message.content
    stop = text[10:13]
    assert len(stop) == 3
    stopped = client.chat.completions.create(
        model="ai/tiny", messages=[{"role": "user", "content": "go"}], max_tokens=60, temperature=0, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(stop)]
    assert stop not in stopped.choices[0].message.content


def test_eight_concurrent_streams_all_finish(server: RunningServer) -> None:
    async def one(client: openai.AsyncOpenAI, n: int) -> tuple[str, int]:
        stream = await client.chat.completions.create(
            model="ai/tiny", messages=[{"role": "user", "content": f"story {n}"}], max_tokens=40, stream=True,
            stream_options={"include_usage": True},
        )
        text, completion_tokens = "", 0
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                completion_tokens = chunk.usage.completion_tokens
        return text, completion_tokens

    async def main() -> list[tuple[str, int]]:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        async with client:
            return await asyncio.gather(*(one(client, n) for n in range(8)))

    results = asyncio.run(main())
    assert [tokens for _, tokens in results] == [40] * 8
    assert all(text for text, _ in results)


def test_legacy_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="ai/tiny", prompt="Once upon a time", max_tokens=8)
    assert completion.choices[0].text
    assert completion.usage.completion_tokens == 8
    chunks = list(client.completions.create(model="ai/tiny", prompt="Once", max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices)


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "ai/tiny:latest" in ids
    assert client.models.retrieve("ai/tiny").id == "ai/tiny"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("ai/absent")


@pytest.mark.parametrize("prefix", ["/engines/v1", "/engines/llama.cpp/v1", "/v1"])
def test_every_route_alias_serves_chat(server: RunningServer, prefix: str) -> None:
    client = openai.OpenAI(base_url=server.url + prefix, api_key="x", max_retries=0)
    completion = client.chat.completions.create(model="ai/tiny", messages=[{"role": "user", "content": "a"}],
                                                max_tokens=2)
    assert completion.usage.completion_tokens == 2
