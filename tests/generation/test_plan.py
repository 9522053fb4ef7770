"""Generation's tool plan, from OpenAI- and Ollama-shaped requests: the same strategy as Anthropic's
(native, prompted, constrained), tool results reaching the template, the output schema shown."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.dialects.ollama.protocol import ChatBody
from modelrunner.dialects.ollama.translate import to_chat_request as ollama_request
from modelrunner.dialects.openai.protocol import ChatCompletionsBody
from modelrunner.dialects.openai.translate import to_chat_request as openai_request
from modelrunner.generation.plan import ToolPlan, engine_tool_id, plan_tools

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}
ASK = [{"role": "user", "content": "weather in Paris?"}]
LOOP = [*ASK,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]


def openai_plan(native: bool = True, **fields: Any) -> ToolPlan:
    body = ChatCompletionsBody.model_validate({"model": "m", "messages": ASK, **fields})
    return plan_tools(openai_request(body), native_tools=native)


def test_openai_tools_are_native_for_a_template_that_renders_them() -> None:
    plan = openai_plan(tools=[WEATHER])
    assert plan.tool_output == "native" and plan.chat.tool_choice == "auto" and plan.max_tool_calls is None
    assert [t["function"]["name"] for t in plan.chat.tools] == ["get_weather"]


def test_openai_tools_are_prompted_for_a_template_that_does_not() -> None:
    plan = openai_plan(native=False, tools=[WEATHER, ADD])
    assert plan.tool_output == "prompted" and plan.chat.tools is None
    assert plan.chat.messages[0]["role"] == "system" and "# Tools" in plan.chat.messages[0]["content"]
    assert '"name":"add"' in plan.chat.messages[0]["content"]


@pytest.mark.parametrize("native", [True, False])
def test_required_and_named_calls_are_constrained_to_one_valid_call(native: bool) -> None:
    required = openai_plan(native, tools=[WEATHER, ADD], tool_choice="required")
    assert required.tool_output == "constrained" and required.max_tool_calls == 1
    schema = required.chat.response_format["json_schema"]["schema"]
    jsonschema.validate({"name": "add", "input": {"a": 1}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add", "input": {"a": "one"}}, schema)
    named = openai_plan(native, tools=[WEATHER, ADD], tool_choice={"type": "function", "function": {"name": "add"}})
    schema = named.chat.response_format["json_schema"]["schema"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "input": {"city": "Paris"}}, schema)


def test_tool_choice_none_calls_nothing_and_parallel_off_allows_one_call() -> None:
    assert openai_plan(tools=[WEATHER], tool_choice="none").tool_output == "text"
    assert openai_plan(native=False, tools=[WEATHER], tool_choice="none").tool_output == "text"
    native = openai_plan(tools=[WEATHER], parallel_tool_calls=False)
    assert native.max_tool_calls == 1 and native.chat.parallel_tool_calls is False
    assert openai_plan(native=False, tools=[WEATHER], parallel_tool_calls=False).max_tool_calls == 1


def test_strict_functions_constrain_prompted_calls() -> None:
    strict = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    constraint = openai_plan(native=False, tools=[strict, ADD]).chat.tool_call_constraint
    assert constraint is not None
    jsonschema.validate({"name": "get_weather", "input": {"city": "Rome"}}, constraint.call_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "input": {}}, constraint.call_schema)
    assert openai_plan(native=False, tools=[WEATHER]).chat.tool_call_constraint is None


def test_tool_results_reach_the_template_as_tool_messages_or_as_text() -> None:
    native = openai_plan(messages=LOOP, tools=[WEATHER])
    assert [m["role"] for m in native.chat.messages] == ["user", "assistant", "tool"]
    # The template sees ids derived from the client's (Mistral's accept only 9 alphanumerics), paired alike.
    assert native.chat.messages[2] == {"role": "tool", "tool_call_id": engine_tool_id("call_1"), "content": "sunny"}
    assert native.chat.messages[1]["tool_calls"][0]["id"] == engine_tool_id("call_1")
    prompted = openai_plan(native=False, messages=LOOP, tools=[WEATHER])
    assert [m["role"] for m in prompted.chat.messages] == ["system", "user", "assistant", "user"]
    assert prompted.chat.messages[2]["content"] == '<tool_call>{"name":"get_weather","input":{"city":"Paris"}}</tool_call>'
    assert prompted.chat.messages[3]["content"] == '<tool_result tool_use_id="call_1">\nsunny\n</tool_result>'


def test_bad_openai_tools_are_400s() -> None:
    for fields in ({"tools": [{"type": "function", "function": {}}]},
                   {"tools": [WEATHER, WEATHER]},
                   {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
                   {"tools": [WEATHER], "tool_choice": "sometimes"}):
        with pytest.raises(InvalidRequest):
            openai_plan(**fields)


def test_structured_output_schema_is_shown_to_the_model_as_well_as_enforced() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    plan = openai_plan(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert plan.chat.response_format["json_schema"]["schema"] == schema
    assert plan.chat.messages[0]["role"] == "system" and '"ok"' in plan.chat.messages[0]["content"]
    with_system = openai_plan(messages=[{"role": "system", "content": "Be brief."}, *ASK],
                              response_format={"type": "json_object"})
    assert with_system.chat.messages[0]["content"].startswith("Be brief.\n\n") and len(with_system.chat.messages) == 2
    ollama = plan_tools(ollama_request(ChatBody.model_validate({"model": "m", "messages": ASK, "format": schema})),
                        native_tools=True)
    assert '"ok"' in ollama.chat.messages[0]["content"]


def test_ollama_tools_and_tool_results_take_the_same_path() -> None:
    body = ChatBody.model_validate({"model": "m", "tools": [WEATHER], "messages": [
        *ASK, {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                               "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]})
    native = plan_tools(ollama_request(body), native_tools=True)
    assert native.tool_output == "native" and native.chat.messages[2]["role"] == "tool"
    prompted = plan_tools(ollama_request(body), native_tools=False)
    assert prompted.tool_output == "prompted"
    assert prompted.chat.messages[-1]["content"] == '<tool_result tool_use_id="get_weather">\nsunny\n</tool_result>'


def test_ollama_results_are_paired_with_their_calls_by_id() -> None:
    """Ollama's calls have no ids and its results name only the tool (here out of order): each result
    gets its call's id, 9 alphanumerics as Mistral's templates want, also split one call per turn."""
    body = ChatBody.model_validate({"model": "m", "tools": [WEATHER], "messages": [
        *ASK, {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]},
        {"role": "tool", "content": "5", "tool_name": "add"},
        {"role": "tool", "content": "sunny"}]})
    native = plan_tools(ollama_request(body), native_tools=True)
    calls = native.chat.messages[1]["tool_calls"]
    results = native.chat.messages[2:]
    assert [result["tool_call_id"] for result in results] == [calls[1]["id"], calls[0]["id"]]
    assert all(len(call["id"]) == 9 and call["id"].isalnum() for call in calls)
    split = plan_tools(ollama_request(body), native_tools=True, parallel_calls=False)
    assert [(m["role"], m.get("content")) for m in split.chat.messages[1:]] == [
        ("assistant", ""), ("tool", "sunny"), ("assistant", ""), ("tool", "5")]


def test_schema_refusals_name_the_tools_whose_schemas_reach_the_grammar() -> None:
    strict = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    named_add = {"type": "function", "function": {"name": "add"}}
    assert openai_plan(tools=[WEATHER, ADD]).schema_owner == "one of the tools 'get_weather', 'add'"
    assert openai_plan(tools=[WEATHER, ADD], tool_choice=named_add).schema_owner == (
        "one of the tools 'get_weather', 'add'")  # the template sees every tool
    assert openai_plan(native=False, tools=[WEATHER, ADD], tool_choice=named_add).schema_owner == "tool 'add'"
    assert openai_plan(native=False, tools=[strict, ADD]).schema_owner == "tool 'get_weather'"
    assert openai_plan(native=False, tools=[WEATHER, ADD]).schema_owner is None  # prompted, free, not strict
    structured = openai_plan(native=False, response_format={"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}})
    assert structured.schema_owner == "the output format"
