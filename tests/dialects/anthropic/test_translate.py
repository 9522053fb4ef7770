"""Anthropic requests -> ChatRequest: roles, tool calls and results, tool choice, sampling, thinking."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.dialects.anthropic.protocol import CountTokensBody, MessagesBody
from modelrunner.dialects.anthropic.translate import prepare, to_tooling_request
from modelrunner.generation.plan import ToolPlan, engine_tool_id, plan_tools

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ADD = {"name": "add", "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}

TOOL_LOOP = [
    {"role": "user", "content": "weather in Paris?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                      {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                       "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "text", "text": "and be brief"},
                                 {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
]


def to_chat_request(prepared: Any, *, native_tools: bool, parallel_calls: bool = True) -> ToolPlan:
    """The Anthropic translation, then generation's plan for a template with or without tool support."""
    return plan_tools(to_tooling_request(prepared), native_tools=native_tools, parallel_calls=parallel_calls)


def translated(native: bool = True, **fields: Any):
    body = MessagesBody.model_validate({"model": "m", "max_tokens": 10, **fields})
    return to_chat_request(prepare(body, accepts_images=False), native_tools=native)


def test_tool_results_come_right_after_the_assistant_turn_before_the_user_text() -> None:
    chat = translated(messages=TOOL_LOOP, tools=[WEATHER]).chat
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "user"]
    assert chat.messages[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert chat.messages[2] == {"role": "tool", "tool_call_id": engine_tool_id("toolu_1"), "content": "sunny"}
    assert chat.messages[1]["tool_calls"][0]["id"] == chat.messages[2]["tool_call_id"]
    assert chat.messages[3]["content"] == "and be brief"


def test_engine_tool_ids_are_nine_alphanumerics_derived_from_the_client_id() -> None:
    ids = {engine_tool_id(f"toolu_{n:024x}") for n in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 9 and i.isalnum() and i.isascii() for i in ids)
    assert engine_tool_id("toolu_01A") == engine_tool_id("toolu_01A")


def test_an_id_already_in_the_engine_form_is_kept() -> None:
    assert engine_tool_id("a1B2c3D4e") == "a1B2c3D4e"
    assert engine_tool_id("a1B2c3D4é") != "a1B2c3D4é"


TWO_CALLS = [
    {"role": "user", "content": "weather in Paris and 2+3?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Both."},
                                      {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
                                      {"type": "tool_use", "id": "toolu_b", "name": "add", "input": {"a": 2}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_b", "content": "5"},
                                 {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"}]},
]


def test_a_single_call_template_gets_each_call_in_its_own_turn_followed_by_its_result() -> None:
    body = MessagesBody.model_validate({"model": "m", "max_tokens": 10, "messages": TWO_CALLS, "tools": [WEATHER, ADD]})
    chat = to_chat_request(prepare(body, accepts_images=False), native_tools=True, parallel_calls=False).chat
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert chat.messages[1]["content"] == "Both." and chat.messages[3]["content"] == ""
    assert [m["tool_calls"][0]["function"]["name"] for m in chat.messages[1::2][:2]] == ["get_weather", "add"]
    assert chat.messages[2]["content"] == "sunny" and chat.messages[4]["content"] == "5"
    assert chat.parallel_tool_calls is False
    kept = to_chat_request(prepare(body, accepts_images=False), native_tools=True).chat
    assert [m["role"] for m in kept.messages] == ["user", "assistant", "tool", "tool"]


def test_a_forced_call_closes_thinking_at_once_and_thinking_with_it_is_refused() -> None:
    chat = translated(messages=TOOL_LOOP[:1], tools=[WEATHER], tool_choice={"type": "any"}).chat
    assert chat.reasoning is False and chat.reasoning_budget_tokens == 1
    with pytest.raises(InvalidRequest, match="Thinking may not be enabled"):
        translated(messages=TOOL_LOOP[:1], tools=[WEATHER], tool_choice={"type": "any"},
                   thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2000)


def test_without_template_tool_support_tools_and_calls_are_written_as_text() -> None:
    translation = translated(native=False, messages=TOOL_LOOP, tools=[WEATHER], system="Be nice.")
    chat = translation.chat
    assert chat.tools is None and translation.tool_output == "prompted"
    assert chat.messages[0]["role"] == "system" and chat.messages[0]["content"].startswith("Be nice.\n\n# Tools")
    assert '"name":"get_weather"' in chat.messages[0]["content"]
    assert chat.messages[2]["content"].endswith('<tool_call>{"name":"get_weather","input":{"city":"Paris"}}</tool_call>')
    assert chat.messages[3]["content"].startswith('<tool_result tool_use_id="toolu_1">\nsunny\n</tool_result>')


def test_is_error_stays_visible_to_the_model() -> None:
    messages = [*TOOL_LOOP[:2], {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "no such city", "is_error": True}]}]
    assert translated(messages=messages, tools=[WEATHER]).chat.messages[2]["content"] == "Error: no such city"
    assert 'is_error="true"' in translated(native=False, messages=messages, tools=[WEATHER]).chat.messages[3]["content"]


def test_named_tool_choice_constrains_decoding_to_that_tool_only() -> None:
    translation = translated(messages=TOOL_LOOP[:1], tools=[WEATHER, ADD], tool_choice={"type": "tool", "name": "add"})
    assert translation.tool_output == "constrained" and translation.max_tool_calls == 1
    schema = translation.chat.response_format["json_schema"]["schema"]
    jsonschema.validate({"name": "add", "input": {"a": 1}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "input": {"city": "Paris"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add", "input": {}}, schema)


def test_any_tool_choice_accepts_every_tool_and_requires_valid_input() -> None:
    schema = translated(native=False, messages=TOOL_LOOP[:1], tools=[WEATHER, ADD],
                        tool_choice={"type": "any"}).chat.response_format["json_schema"]["schema"]
    jsonschema.validate({"name": "get_weather", "input": {"city": "Rome"}}, schema)
    jsonschema.validate({"name": "add", "input": {"a": 2}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add", "input": {"a": "two"}}, schema)


def test_tool_choice_none_keeps_tools_in_the_prompt_but_calls_nothing() -> None:
    native = translated(messages=TOOL_LOOP[:1], tools=[WEATHER], tool_choice={"type": "none"})
    assert native.tool_output == "text" and native.chat.tool_choice == "none" and native.chat.tools
    prompted = translated(native=False, messages=TOOL_LOOP[:1], tools=[WEATHER], tool_choice={"type": "none"})
    assert prompted.tool_output == "text" and "# Tools" in prompted.chat.messages[0]["content"]


def test_disable_parallel_tool_use_allows_one_call() -> None:
    translation = translated(messages=TOOL_LOOP[:1], tools=[WEATHER],
                             tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    assert translation.chat.parallel_tool_calls is False and translation.max_tool_calls == 1


def test_anthropic_client_tools_get_a_schema_and_server_tools_are_refused() -> None:
    chat = translated(messages=TOOL_LOOP[:1], tools=[{"type": "bash_20250124", "name": "bash"},
                                                     {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]).chat
    assert [t["function"]["name"] for t in chat.tools] == ["bash", "str_replace_based_edit_tool"]
    assert chat.tools[0]["function"]["parameters"]["properties"]["command"] == {"type": "string"}
    with pytest.raises(Unsupported, match="web_search"):
        translated(messages=TOOL_LOOP[:1], tools=[{"type": "web_search_20250305", "name": "web_search"}])


def test_a_named_tool_that_does_not_exist_is_a_400() -> None:
    with pytest.raises(InvalidRequest, match="nope"):
        translated(messages=TOOL_LOOP[:1], tools=[WEATHER], tool_choice={"type": "tool", "name": "nope"})


def test_sampling_stop_sequences_thinking_and_prefill() -> None:
    translation = translated(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "A:"}],
                             temperature=0.2, top_p=0.9, top_k=5, stop_sequences=["END", ""],
                             thinking={"type": "disabled"})
    chat = translation.chat
    assert (chat.sampling.max_tokens, chat.sampling.temperature, chat.sampling.top_p, chat.sampling.top_k) == (10, 0.2, 0.9, 5)
    assert chat.sampling.stop == ["END"] and chat.reasoning is False
    assert chat.continue_final_message and chat.messages[-1] == {"role": "assistant", "content": "A:"}
    enabled = translated(messages=[{"role": "user", "content": "q"}], thinking={"type": "enabled", "budget_tokens": 2048})
    assert enabled.chat.reasoning is True and enabled.chat.reasoning_budget_tokens == 2048


@pytest.mark.parametrize("constraint", [{"tool_choice": {"type": "any"}, "tools": [WEATHER]},
                                        {"output_config": {"format": {"type": "json_schema", "schema": {}}}}])
def test_a_prefill_with_a_constrained_answer_is_a_clear_400(constraint: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match="prefilled"):
        translated(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "A:"}], **constraint)


def test_structured_output_becomes_a_json_schema_constraint() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    chat = translated(messages=[{"role": "user", "content": "q"}],
                      output_config={"format": {"type": "json_schema", "schema": schema}}).chat
    assert chat.response_format["json_schema"]["schema"] == schema


def test_count_tokens_bodies_translate_like_generation_without_max_tokens() -> None:
    body = CountTokensBody.model_validate({"model": "m", "messages": TOOL_LOOP, "tools": [WEATHER]})
    counted = to_chat_request(prepare(body, accepts_images=False), native_tools=True).chat
    generated = translated(messages=TOOL_LOOP, tools=[WEATHER]).chat
    assert (counted.messages, counted.tools, counted.tool_choice) == (generated.messages, generated.tools, generated.tool_choice)


def test_rendering_is_deterministic_for_the_same_request() -> None:
    first = translated(native=False, messages=TOOL_LOOP, tools=[WEATHER, ADD]).chat.messages
    assert first == translated(native=False, messages=TOOL_LOOP, tools=[WEATHER, ADD]).chat.messages


def test_conversation_with_only_blank_content_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        translated(messages=[{"role": "user", "content": " "}])


STRICT_WEATHER = {**WEATHER, "strict": True}


def test_strict_tools_under_auto_without_template_tools_constrain_each_call_not_the_text() -> None:
    translation = translated(native=False, messages=TOOL_LOOP[:1], tools=[STRICT_WEATHER, ADD])
    chat = translation.chat
    constraint = chat.tool_call_constraint
    assert translation.tool_output == "prompted" and chat.response_format is None and chat.tools is None
    assert (constraint.open, constraint.close, constraint.max_calls, constraint.opened) == (
        "<tool_call>", "</tool_call>", None, False)
    jsonschema.validate({"name": "get_weather", "input": {"city": "Rome"}}, constraint.call_schema)
    jsonschema.validate({"name": "add", "input": {"a": "not checked: add is not strict"}}, constraint.call_schema)
    for invalid in ({"name": "get_weather", "input": {}}, {"name": "add", "input": []}, {"name": "nope", "input": {}},
                    {"name": "get_weather", "input": {"city": "Rome"}, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(invalid, constraint.call_schema)
    one = translated(native=False, messages=TOOL_LOOP[:1], tools=[STRICT_WEATHER],
                     tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    assert one.chat.tool_call_constraint.max_calls == 1


def test_no_strict_constraint_without_a_strict_tool_with_template_tools_or_when_a_call_is_required() -> None:
    assert translated(native=False, messages=TOOL_LOOP[:1], tools=[WEATHER, ADD]).chat.tool_call_constraint is None
    native = translated(messages=TOOL_LOOP[:1], tools=[STRICT_WEATHER])  # llama.cpp's own grammar does it
    assert native.tool_output == "native" and native.chat.tool_call_constraint is None
    forced = translated(native=False, messages=TOOL_LOOP[:1], tools=[STRICT_WEATHER], tool_choice={"type": "any"})
    assert forced.tool_output == "constrained" and forced.chat.tool_call_constraint is None
    assert translated(native=False, messages=TOOL_LOOP[:1], tools=[STRICT_WEATHER],
                      tool_choice={"type": "none"}).chat.tool_call_constraint is None


def test_a_prefill_that_opens_a_call_starts_the_answer_inside_it() -> None:
    def with_prefill(text: str):
        return translated(native=False, tools=[STRICT_WEATHER],
                          messages=[*TOOL_LOOP[:1], {"role": "assistant", "content": text}])

    opened = with_prefill("Checking. <tool_call>")
    assert opened.open_call == "" and opened.chat.tool_call_constraint.opened
    half = with_prefill('<tool_call>{"name": "get_weather", "input": {"ci')
    assert half.open_call == '{"name": "get_weather", "input": {"ci'
    assert half.chat.tool_call_constraint is None  # a schema cannot take over mid-document
    closed = with_prefill('<tool_call>{"name": "get_weather", "input": {"city": "Rome"}}</tool_call> So')
    assert closed.open_call is None and not closed.chat.tool_call_constraint.opened
    assert translated(native=False, tools=[WEATHER], messages=TOOL_LOOP[:1]).open_call is None


def test_call_schemas_keep_a_tools_local_refs_resolvable() -> None:
    digit = {"type": "integer", "minimum": 0, "maximum": 9}
    pydantic_like = {"name": "add", "strict": True, "input_schema": {
        "type": "object", "$defs": {"Digit": digit},
        "properties": {"a": {"$ref": "#/$defs/Digit"}, "default": {"$ref": "#/$defs/Digit"},
                       "tag": {"const": {"$ref": "#/not/a/schema"}}},
        "required": ["a", "default"]}}
    forced = translated(messages=TOOL_LOOP[:1], tools=[WEATHER, pydantic_like], tool_choice={"type": "tool", "name": "add"})
    strict = translated(native=False, messages=TOOL_LOOP[:1], tools=[WEATHER, pydantic_like])
    for schema in (forced.chat.response_format["json_schema"]["schema"], strict.chat.tool_call_constraint.call_schema):
        jsonschema.validate({"name": "add", "input": {"a": 1, "default": 2}}, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"name": "add", "input": {"a": 1, "default": 12}}, schema)
        assert '"#/not/a/schema"' in str(schema).replace("'", '"')
