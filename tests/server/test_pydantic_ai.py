"""pydantic-ai's OpenAI chat model, pointed at the runner as its docs point it at any OpenAI-compatible
server, with a pydantic output type: pydantic-ai asks for its output through a required tool call, so this
is the OpenAI route's tool handling end to end, as an agent framework drives it.

instructor (the other framework #11 names) is not tested: its newest release (1.17.0) requires `jiter<0.15`
and the `openai` SDK this project tests against requires `jiter>=0.16`, so they do not install together."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.support.server import RunningServer


class Weather(BaseModel):
    """A weather report, as an application would type it."""

    city: Literal["Paris", "Rome"]
    celsius: int = Field(ge=-20, le=45)


def weather_agent(server: RunningServer, model: str) -> Agent[None, Weather]:
    provider = OpenAIProvider(base_url=server.url + "/engines/v1", api_key="not-needed")
    return Agent(OpenAIChatModel(model, provider=provider), output_type=Weather, retries=0)


@pytest.mark.parametrize("model_server, model", [("server", "ai/tiny"), ("default_model_server", "ai/smollm2")])
def test_an_agent_gets_a_typed_output(request: pytest.FixtureRequest, model_server: str, model: str) -> None:
    server: RunningServer = request.getfixturevalue(model_server)
    result = weather_agent(server, model).run_sync("It is 21 degrees in Paris. Report the weather.")
    assert isinstance(result.output, Weather)
    assert result.usage.input_tokens > 0


def test_an_agent_streams_a_typed_output(server: RunningServer) -> None:
    async def run() -> Weather:
        async with weather_agent(server, "ai/tiny").run_stream("It is 21 degrees in Paris.") as streamed:
            return await streamed.get_output()

    assert isinstance(asyncio.run(run()), Weather)
