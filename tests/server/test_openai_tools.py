"""Tools through the official OpenAI SDK and the official Ollama client, on the tiny model (a template
that renders tools) and on SmolLM2 (a template that knows nothing of tools, so the tools are prompted):
the same strategy the Anthropic routes use, with OpenAI's and Ollama's answer shapes."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import ollama
import openai
import pytest

from tests.support.server import RunningServer

TINY = "ai/tiny"
SMOL = "ai/smollm2"
WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                      "required": ["city"], "additionalProperties": False}
ADD_PARAMETERS = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 9},
                                                   "b": {"type": "integer", "minimum": 0, "maximum": 9}},
                  "required": ["a", "b"], "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                            "parameters": WEATHER_PARAMETERS}}
ADD = {"type": "function", "function": {"name": "add", "description": "Add two digits", "parameters": ADD_PARAMETERS}}
TOOLS = [WEATHER, ADD]
SCHEMAS = {"get_weather": WEATHER_PARAMETERS, "add": ADD_PARAMETERS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
ADD_CHOICE = {"type": "function", "function": {"name": "add"}}


def client_for(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/engines/v1", api_key="not-needed", max_retries=0, timeout=600)


@pytest.fixture(scope="module")
def tiny(server: RunningServer) -> openai.OpenAI:
    return client_for(server)


@pytest.fixture(scope="module")
def smol(default_model_server: RunningServer) -> openai.OpenAI:
    return client_for(default_model_server)


def assert_one_valid_call(completion: Any, name: str | None = None) -> dict[str, Any]:
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None, choice
    assert len(choice.message.tool_calls) == 1, choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    if name is not None:
        assert call.function.name == name
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name])
    return arguments


def streamed_calls(client: openai.OpenAI, **request: Any) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Tool calls gathered from `delta.tool_calls` by index, and the finish reasons seen."""
    calls: dict[int, dict[str, Any]] = {}
    finishes: list[str] = []
    for chunk in client.chat.completions.create(stream=True, **request):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = call["id"] or delta.id
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
    return calls, finishes


@pytest.mark.parametrize("tool_choice", ["required", ADD_CHOICE])
def test_a_forced_call_is_one_valid_call(tiny: openai.OpenAI, tool_choice: Any) -> None:
    completion = tiny.chat.completions.create(model=TINY, messages=ASK, tools=TOOLS, tool_choice=tool_choice,
                                              max_tokens=200, temperature=1.0)
    assert_one_valid_call(completion, "add" if isinstance(tool_choice, dict) else None)


def test_a_forced_call_streams_as_delta_tool_calls_with_an_index(tiny: openai.OpenAI) -> None:
    calls, finishes = streamed_calls(tiny, model=TINY, messages=ASK, tools=TOOLS, tool_choice=ADD_CHOICE,
                                     max_tokens=200)
    assert finishes == ["tool_calls"] and list(calls) == [0]
    assert calls[0]["name"] == "add" and calls[0]["id"]
    jsonschema.validate(json.loads(calls[0]["arguments"]), ADD_PARAMETERS)


def test_tool_choice_none_answers_in_text(tiny: openai.OpenAI) -> None:
    completion = tiny.chat.completions.create(model=TINY, messages=ASK, tools=TOOLS, tool_choice="none",
                                              max_tokens=12)
    choice = completion.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason != "tool_calls" and choice.message.content


def test_tools_reach_the_prompt(tiny: openai.OpenAI) -> None:
    plain = tiny.chat.completions.create(model=TINY, messages=ASK, max_tokens=1).usage.prompt_tokens
    with_tools = tiny.chat.completions.create(model=TINY, messages=ASK, tools=TOOLS, max_tokens=1).usage.prompt_tokens
    assert with_tools > plain


def test_parallel_off_and_strict_under_a_required_choice_give_one_valid_call(tiny: openai.OpenAI) -> None:
    strict = [{"type": "function", "function": {**tool["function"], "strict": True}} for tool in TOOLS]
    for _ in range(3):
        completion = tiny.chat.completions.create(model=TINY, messages=ASK, tools=strict, tool_choice="required",
                                                  parallel_tool_calls=False, max_tokens=200, temperature=1.0)
        assert_one_valid_call(completion)


def tool_loop(result: str) -> list[dict[str, Any]]:
    return [*ASK,
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": result}]


@pytest.mark.parametrize("client_name", ["tiny", "smol"])
def test_a_tool_result_reaches_the_template(request: pytest.FixtureRequest, client_name: str) -> None:
    client: openai.OpenAI = request.getfixturevalue(client_name)
    model = TINY if client_name == "tiny" else SMOL
    short = client.chat.completions.create(model=model, messages=tool_loop("sunny"), tools=TOOLS, max_tokens=2)
    long = client.chat.completions.create(model=model, messages=tool_loop("sunny and warm, " * 20), tools=TOOLS,
                                          max_tokens=2)
    assert long.usage.prompt_tokens > short.usage.prompt_tokens + 20
    assert short.choices[0].message.content is not None


def test_smollm2_forced_calls_are_valid_in_create_and_stream(smol: openai.OpenAI) -> None:
    """SmolLM2's template renders no tools: they are described in the prompt, the call constrained."""
    arguments = assert_one_valid_call(smol.chat.completions.create(
        model=SMOL, messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=40, temperature=0))
    assert arguments == {"city": "Paris"}
    calls, finishes = streamed_calls(smol, model=SMOL, messages=ASK, tools=TOOLS, tool_choice=ADD_CHOICE,
                                     parallel_tool_calls=False, max_tokens=40, temperature=0)
    assert finishes == ["tool_calls"] and list(calls) == [0] and calls[0]["name"] == "add"
    jsonschema.validate(json.loads(calls[0]["arguments"]), ADD_PARAMETERS)


def test_ollama_client_takes_tools_and_tool_results(server: RunningServer) -> None:
    client = ollama.Client(host=server.url, timeout=600)
    plain = client.chat(model=TINY, messages=ASK, options={"num_predict": 1})
    with_tools = client.chat(model=TINY, messages=ASK, tools=TOOLS, options={"num_predict": 1})
    assert with_tools.prompt_eval_count > plain.prompt_eval_count
    loop = [*ASK, {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "sunny and warm, " * 20, "tool_name": "get_weather"}]
    answered = client.chat(model=TINY, messages=loop, tools=TOOLS, options={"num_predict": 2})
    assert answered.prompt_eval_count > with_tools.prompt_eval_count + 20 and answered.done
