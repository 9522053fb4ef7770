"""The family matrix: one server holding a tiny fixture model per family (tests/support/families.py),
driven through the official Anthropic and OpenAI SDKs and the Ollama API. The weights are random, so
what is checked is the wire shape and what the family's template makes of each request: text, thinking
on and off, forced tool calls with schema-valid inputs, tool results rendered with ids in the family's
form, and clear 400s for what a family cannot do."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import ollama
import openai
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.sample_tools import GREEDY, SCHEMAS, TOOLS
from tests.support.families import FAMILIES, Family, write_family_gguf
from tests.support.server import RunningServer

ASK = [{"role": "user", "content": "What is the weather in Paris and what is 2 + 3?"}]
TWO_CALLS = [
    *ASK,
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check both."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B3kd8zkx0a8dkfn3k2lq0", "name": "add", "input": {"a": 2, "b": 3}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C and sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_01B3kd8zkx0a8dkfn3k2lq0", "content": "5"},
    ]},
]
ONE_CALL = [
    *ASK,
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18C and sunny"},
    ]},
]
IDS = [family.name for family in FAMILIES]
HARMONY_XFAIL = pytest.mark.xfail(
    strict=True, raises=(anthropic.APIStatusError, openai.APIStatusError, ollama.ResponseError, AssertionError),
    reason="random weights never write harmony channels, and llama.cpp's gpt-oss parser refuses anything else")


def _generating(families: list[Family] | tuple[Family, ...]) -> list[Any]:
    """Families as params for tests that generate: gpt-oss is a strict xfail (see HARMONY_XFAIL)."""
    return [pytest.param(family, id=family.name, marks=[HARMONY_XFAIL] if family.writes_harmony else [])
            for family in families]


def model_of(family: Family) -> str:
    return f"ai/fam-{family.name}"


@pytest.fixture(scope="module")
def family_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server whose store holds every family's fixture (each written in milliseconds)."""
    ggufs = tmp_path_factory.mktemp("family-gguf")
    store = ModelStore(tmp_path_factory.mktemp("family-store"))
    for family in FAMILIES:
        path = write_family_gguf(ggufs / f"{family.name}.gguf", family)
        package_gguf(store, PackageSpec(gguf_paths=[path]), [parse_reference(model_of(family))])
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "families.log") as running:
        yield running


@pytest.fixture(scope="module")
def claude(family_server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=family_server.url, api_key="not-needed", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def oai(family_server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=family_server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)


@pytest.fixture(params=FAMILIES, ids=IDS)
def family(request: pytest.FixtureRequest) -> Family:
    """Every family, for what does not depend on what the random weights write."""
    return request.param


@pytest.fixture(params=_generating(FAMILIES))
def generating(request: pytest.FixtureRequest) -> Family:
    return request.param


def _blocks(message: Any, kind: str) -> list[Any]:
    return [block for block in message.content if block.type == kind]


def test_text_reply(claude: anthropic.Anthropic, generating: Family) -> None:
    message = claude.messages.create(model=model_of(generating), max_tokens=12, messages=ASK[:1], extra_body=GREEDY)
    assert message.stop_reason in ("max_tokens", "end_turn")
    assert message.usage.output_tokens > 0 and message.usage.input_tokens > 0
    assert _blocks(message, "text") or _blocks(message, "thinking")
    assert all(block.type in ("text", "thinking") for block in message.content)


def test_text_reply_streamed(claude: anthropic.Anthropic, generating: Family) -> None:
    with claude.messages.stream(model=model_of(generating), max_tokens=12, messages=ASK[:1], extra_body=GREEDY) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert final.stop_reason in ("max_tokens", "end_turn")
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "add"}], ids=["any", "tool"])
def test_forced_call_is_a_valid_tool_use(claude: anthropic.Anthropic, generating: Family, choice: dict[str, Any]) -> None:
    message = claude.messages.create(model=model_of(generating), max_tokens=600, messages=ASK, tools=TOOLS,
                                     tool_choice=choice, extra_body=GREEDY)
    assert message.stop_reason == "tool_use"
    [call] = _blocks(message, "tool_use")
    assert re.fullmatch(r"toolu_[A-Za-z0-9]+", call.id)
    if choice["type"] == "tool":
        assert call.name == "add"
    jsonschema.validate(call.input, SCHEMAS[call.name])


def test_tool_result_round_trip(claude: anthropic.Anthropic, generating: Family) -> None:
    message = claude.messages.create(model=model_of(generating), max_tokens=8, messages=ONE_CALL, tools=TOOLS,
                                     extra_body=GREEDY)
    assert message.stop_reason in ("max_tokens", "end_turn", "tool_use")


def test_two_calls_in_one_turn_round_trip(claude: anthropic.Anthropic, generating: Family) -> None:
    message = claude.messages.create(model=model_of(generating), max_tokens=8, messages=TWO_CALLS, tools=TOOLS,
                                     extra_body=GREEDY)
    assert message.stop_reason in ("max_tokens", "end_turn", "tool_use")


def test_two_calls_round_trip_counts_tokens(claude: anthropic.Anthropic, family: Family) -> None:
    counted = claude.messages.count_tokens(model=model_of(family), messages=TWO_CALLS, tools=TOOLS)
    assert counted.input_tokens > 0


def test_openai_text(oai: openai.OpenAI, generating: Family) -> None:
    completion = oai.chat.completions.create(model=model_of(generating), max_tokens=8, messages=ASK[:1], temperature=0)
    assert completion.choices[0].finish_reason in ("length", "stop")
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_ollama_text(family_server: RunningServer, generating: Family) -> None:
    answer = httpx.post(family_server.url + "/api/chat", timeout=120, json={
        "model": model_of(generating), "messages": ASK[:1], "stream": False,
        "options": {"num_predict": 8, "temperature": 0}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["done"] is True and answer.json()["eval_count"] > 0


OPENS_THINKING = [family for family in FAMILIES if family.opens_thinking]
SWITCHES_THINKING = [family for family in FAMILIES if family.thinking_switch]


@pytest.mark.parametrize("reasoner", OPENS_THINKING, ids=[f.name for f in OPENS_THINKING])
def test_thinking_comes_back_as_signed_blocks_within_its_budget(claude: anthropic.Anthropic, reasoner: Family) -> None:
    message = claude.messages.create(model=model_of(reasoner), max_tokens=1100, messages=ASK[:1],
                                     thinking={"type": "enabled", "budget_tokens": 1024}, extra_body=GREEDY)
    thinking = _blocks(message, "thinking")
    assert thinking and message.content[0].type == "thinking"
    assert all(block.signature for block in thinking)
    # Past the budget llama.cpp closes the think block: the rest of max_tokens goes to the answer.
    assert _blocks(message, "text")
    assert message.usage.output_tokens <= 1100


REASONERS = [family for family in FAMILIES if family.reasons and not family.writes_harmony]


@pytest.mark.parametrize("reasoner", REASONERS, ids=[f.name for f in REASONERS])
def test_disabled_thinking_sends_no_thinking_blocks(claude: anthropic.Anthropic, reasoner: Family) -> None:
    message = claude.messages.create(model=model_of(reasoner), max_tokens=40, messages=ASK[:1],
                                     thinking={"type": "disabled"}, extra_body=GREEDY)
    assert not _blocks(message, "thinking") and not _blocks(message, "redacted_thinking")
    [text] = _blocks(message, "text")
    assert text.text.strip() and "think>" not in text.text
    assert message.stop_reason in ("max_tokens", "end_turn")


@pytest.mark.parametrize("switcher", SWITCHES_THINKING, ids=[f.name for f in SWITCHES_THINKING])
def test_disabled_thinking_turns_the_template_thinking_off(claude: anthropic.Anthropic, switcher: Family) -> None:
    """The template closes an empty think block up front: the prompt grows by those tokens."""
    default = claude.messages.count_tokens(model=model_of(switcher), messages=ASK[:1])
    disabled = claude.messages.count_tokens(model=model_of(switcher), messages=ASK[:1], thinking={"type": "disabled"})
    assert disabled.input_tokens > default.input_tokens


def test_thinking_with_a_forced_tool_call_is_a_clear_400(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
        claude.messages.create(model=model_of(FAMILIES[0]), max_tokens=1100, messages=ASK, tools=TOOLS,
                               tool_choice={"type": "any"}, thinking={"type": "enabled", "budget_tokens": 1024})


IMPOSSIBLE_TOOL = {"name": "pick", "description": "Pick a number",
                   "input_schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5,
                                                                            "maximum": 1}}, "required": ["n"]}}


WRITE_JSON = [family for family in FAMILIES if not family.writes_harmony]


@pytest.mark.parametrize("writer", WRITE_JSON, ids=[f.name for f in WRITE_JSON])
def test_an_unsatisfiable_tool_schema_is_a_clear_400(claude: anthropic.Anthropic, writer: Family) -> None:
    """No integer fits: a 400 naming the tool and the place, before llama.cpp sees a grammar."""
    with pytest.raises(anthropic.BadRequestError, match="tool 'pick'.*#/properties/n: minimum 5 is above maximum 1"):
        claude.messages.create(model=model_of(writer), max_tokens=600, messages=ASK, tools=[IMPOSSIBLE_TOOL],
                               tool_choice={"type": "any"}, extra_body=GREEDY)


OPENAI_TWO_CALLS = [
    {"role": "user", "content": "What is the weather in Paris and what is 2 + 3?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_add_2", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
    {"role": "tool", "tool_call_id": "call_weather_1", "content": "18C and sunny"},
    {"role": "tool", "tool_call_id": "call_add_2", "content": "5"},
]
OPENAI_TOOLS = [{"type": "function", "function": {"name": tool["name"], "description": tool["description"],
                                                  "parameters": tool["input_schema"]}} for tool in TOOLS]


def test_openai_tool_history_is_answered(oai: openai.OpenAI, generating: Family) -> None:
    """OpenAI clients bring their own call ids and parallel calls: Mistral's templates take only
    9-character ids and Llama 3's one call per turn, so each template gets ids and turns it accepts,
    derived the same way as on the Anthropic route."""
    answer = oai.chat.completions.create(model=model_of(generating), messages=OPENAI_TWO_CALLS, tools=OPENAI_TOOLS,
                                         max_tokens=4, temperature=0)
    assert answer.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert answer.usage.prompt_tokens > 0


# The same tool contract through OpenAI's SDK and Ollama's client. The random weights only call a tool
# when a grammar makes them, so model-written calls are forced (`required`, a named function); Ollama
# has no tool_choice, so what it is checked on is that tools reach the template and that a turn of
# two calls with their results is rendered and answered in its own shapes.

OPENAI_CHOICES = [pytest.param("required", id="required"),
                  pytest.param({"type": "function", "function": {"name": "add"}}, id="named")]


def _valid_openai_call(call: Any, named: str | None) -> dict[str, Any]:
    assert call.type == "function" and call.id
    if named is not None:
        assert call.function.name == named
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name])
    return arguments


def _named(choice: Any) -> str | None:
    return choice["function"]["name"] if isinstance(choice, dict) else None


@pytest.mark.parametrize("choice", OPENAI_CHOICES)
def test_openai_forced_call_is_a_valid_tool_call(oai: openai.OpenAI, generating: Family, choice: Any) -> None:
    completion = oai.chat.completions.create(model=model_of(generating), max_tokens=600, messages=ASK,
                                             tools=OPENAI_TOOLS, tool_choice=choice, temperature=0)
    [answer] = completion.choices
    assert answer.finish_reason == "tool_calls"
    assert answer.message.role == "assistant"
    [call] = answer.message.tool_calls or []
    _valid_openai_call(call, _named(choice))


def test_openai_forced_call_streamed(oai: openai.OpenAI, generating: Family) -> None:
    """The deltas of a streamed call add up to one call whose arguments validate."""
    stream = oai.chat.completions.create(model=model_of(generating), max_tokens=600, messages=ASK, tools=OPENAI_TOOLS,
                                         tool_choice="required", temperature=0, stream=True)
    ids, names, arguments, finishes = set(), "", "", []
    for chunk in stream:
        for choice in chunk.choices:
            finishes += [choice.finish_reason] if choice.finish_reason else []
            for delta in choice.delta.tool_calls or []:
                assert delta.index == 0
                ids |= {delta.id} if delta.id else set()
                names += delta.function.name or "" if delta.function else ""
                arguments += delta.function.arguments or "" if delta.function else ""
    assert finishes == ["tool_calls"]
    assert len(ids) == 1 and names in SCHEMAS
    jsonschema.validate(json.loads(arguments), SCHEMAS[names])


def test_openai_own_call_round_trip(oai: openai.OpenAI, generating: Family) -> None:
    """The call the model made, sent back as the client received it with its result, is answered:
    whatever id form the family's template wants (Mistral's 9 alphanumerics)."""
    first = oai.chat.completions.create(model=model_of(generating), max_tokens=600, messages=ASK, tools=OPENAI_TOOLS,
                                        tool_choice={"type": "function", "function": {"name": "add"}}, temperature=0)
    calls = first.choices[0].message.tool_calls or []
    assert len(calls) == 1
    call = calls[0]
    history = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "5"}]
    second = oai.chat.completions.create(model=model_of(generating), max_tokens=8, messages=history,
                                         tools=OPENAI_TOOLS, temperature=0)
    assert second.choices[0].finish_reason in ("length", "stop", "tool_calls")
    assert second.usage is not None and second.usage.prompt_tokens > first.usage.prompt_tokens  # type: ignore[union-attr]


OLLAMA_TWO_CALLS = [
    *ASK,
    {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]},
    {"role": "tool", "tool_name": "get_weather", "content": "18C and sunny"},
    {"role": "tool", "tool_name": "add", "content": "5"},
]


@pytest.fixture(scope="module")
def ollama_client(family_server: RunningServer) -> ollama.Client:
    return ollama.Client(host=family_server.url, timeout=120)


def test_ollama_tools_reach_the_template(ollama_client: ollama.Client, generating: Family) -> None:
    """Offered tools are described to the model (natively or in the system prompt): the prompt grows."""
    options = {"num_predict": 4, "temperature": 0}
    plain = ollama_client.chat(model=model_of(generating), messages=ASK, options=options)
    offered = ollama_client.chat(model=model_of(generating), messages=ASK, tools=OPENAI_TOOLS, options=options)
    assert offered.message.role == "assistant" and offered.done
    assert offered.prompt_eval_count > plain.prompt_eval_count + 20  # type: ignore[operator]


def test_ollama_two_calls_with_their_results_are_answered(ollama_client: ollama.Client, generating: Family) -> None:
    """Ollama's calls carry no ids and its results name only the tool: each family still gets a turn
    its template renders (ids of the form it needs, one call per turn for Llama 3)."""
    answer = ollama_client.chat(model=model_of(generating), messages=OLLAMA_TWO_CALLS, tools=OPENAI_TOOLS,
                                options={"num_predict": 8, "temperature": 0})
    assert answer.done and answer.done_reason in ("stop", "length")
    assert answer.message.role == "assistant"
    asked = ollama_client.chat(model=model_of(generating), messages=ASK, tools=OPENAI_TOOLS,
                               options={"num_predict": 1, "temperature": 0})
    assert answer.prompt_eval_count > asked.prompt_eval_count  # type: ignore[operator]  # calls and results rendered


def test_ollama_streamed_chat_with_tools_ends_done(ollama_client: ollama.Client, generating: Family) -> None:
    parts = list(ollama_client.chat(model=model_of(generating), messages=OLLAMA_TWO_CALLS, tools=OPENAI_TOOLS,
                                    options={"num_predict": 8, "temperature": 0}, stream=True))
    assert parts[-1].done and not any(part.done for part in parts[:-1])
    assert parts[-1].eval_count > 0  # type: ignore[operator]


NATIVE = [family for family in FAMILIES if family.native_tools and not family.writes_harmony]


@pytest.mark.parametrize("native", NATIVE, ids=[f.name for f in NATIVE])
def test_two_calls_stay_in_one_turn_where_the_template_renders_them(family_server: RunningServer,
                                                                    oai: openai.OpenAI, native: Family) -> None:
    """The engine request the recorder kept: a template that renders several calls per turn gets the
    turn whole; Llama 3's, which raises on two, gets one turn per call, each with its result."""
    oai.chat.completions.create(model=model_of(native), max_tokens=2, messages=OPENAI_TWO_CALLS, tools=OPENAI_TOOLS,
                                temperature=0)
    records = httpx.get(family_server.url + "/engines/requests", timeout=30).json()["requests"]
    [*_, last] = [record for record in records if record["model"] == model_of(native)]
    turns = [(message["role"], len(message.get("tool_calls") or [])) for message in last["engine_request"]["messages"]]
    if native.parallel_calls:
        assert turns == [("user", 0), ("assistant", 2), ("tool", 0), ("tool", 0)]
    else:
        assert turns == [("user", 0), ("assistant", 1), ("tool", 0), ("assistant", 1), ("tool", 0)]
