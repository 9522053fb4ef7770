"""The official `anthropic` Python SDK against a real server: the tiny model (fast, native template
tools), the same model behind a template without tools (prompted tools), and the default SmolLM2
model (real text, a template without tools). Every stream goes through the grammar checker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import psutil
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.anthropic_stream import CheckedStream, check_sdk_events, check_stream, parse_sse
from tests.support.sample_tools import ADD_TOOL, CITY_TOOL, GREEDY, SCHEMAS, TOOLS
from tests.support.server import RunningServer

TINY = "ai/tiny"
SMOL = "ai/smollm2"
PLAIN_TINY = "ai/tiny-plain"
PLAIN_CHATML = (  # ChatML that renders no tools, so tools reach the model as a prompt
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + (message.content if message.content is string else '') + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL_LOOP = [
    *ASK_WEATHER,
    {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                      {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C and sunny"},
                                 {"type": "text", "text": "Answer in one sentence."}]},
]


def client_for(server: RunningServer, prefix: str = "") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url + prefix, api_key="not-needed", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def tiny(server: RunningServer) -> anthropic.Anthropic:
    return client_for(server)


@pytest.fixture(scope="module")
def smol(default_model_server: RunningServer) -> anthropic.Anthropic:
    return client_for(default_model_server)


@pytest.fixture(scope="module")
def plain_tiny(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[anthropic.Anthropic]:
    """The tiny random model behind a template without tools: a fast model whose every unconstrained
    call is garbage, so a valid one proves the constraint."""
    root = tmp_path_factory.mktemp("plain-tiny")
    template = root / "chatml.jinja"
    template.write_text(PLAIN_CHATML)
    store = ModelStore(root / "store")
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], chat_template_path=template), [parse_reference(PLAIN_TINY)])
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "plain-tiny.log") as running:
        yield client_for(running)


def streamed(client: anthropic.Anthropic, **request: Any) -> CheckedStream:
    with client.messages.create(stream=True, **request) as events:
        return check_sdk_events(list(events))


def assert_valid_tool_use(block: Any, name: str | None = None) -> None:
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    if name is not None:
        assert block.name == name
    jsonschema.validate(block.input, SCHEMAS[block.name])


@pytest.mark.parametrize("prefix", ["", "/anthropic", "/engines/llama.cpp", "/engines"])
def test_create_on_every_mount(server: RunningServer, prefix: str) -> None:
    raw = client_for(server, prefix).messages.with_raw_response.create(model=TINY, max_tokens=8, messages=ASK_WEATHER)
    message = raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.model == TINY and message.id.startswith("msg_") and message.role == "assistant"
    assert message.stop_reason in ("max_tokens", "end_turn") and message.usage.output_tokens >= 1
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens > 0


def test_stream_text_stream_and_final_message_agree(tiny: anthropic.Anthropic) -> None:
    with tiny.messages.stream(model=TINY, max_tokens=24, messages=ASK_WEATHER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == final.content[0].text and len(pieces) >= 1
    assert final.stop_reason in ("max_tokens", "end_turn") and final.usage.output_tokens >= 1
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens > 0
    checked = streamed(tiny, model=TINY, max_tokens=24, messages=ASK_WEATHER)
    assert checked.text and checked.usage["output_tokens"] >= 1


def test_raw_stream_headers_and_event_lines(server: RunningServer) -> None:
    with httpx.stream("POST", server.url + "/v1/messages?beta=true", timeout=60,
                      headers={"accept": "application/json", "anthropic-version": "2023-06-01"},
                      json={"model": TINY, "max_tokens": 8, "stream": True, "messages": ASK_WEATHER}) as response:
        body = response.read()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache" and response.headers["request-id"].startswith("req_")
    check_stream(parse_sse(body))


COUNTED_REQUESTS = {
    "plain": {"messages": ASK_WEATHER},
    "system": {"messages": ASK_WEATHER, "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]},
    "tools": {"messages": ASK_WEATHER, "tools": TOOLS},
    "named tool": {"messages": ASK_WEATHER, "tools": TOOLS, "tool_choice": {"type": "tool", "name": "add"}},
    "tool loop": {"messages": TOOL_LOOP, "tools": TOOLS, "system": "You are helpful."},
    "prefill": {"messages": [*ASK_WEATHER, {"role": "assistant", "content": "It is"}]},
}


@pytest.mark.parametrize("name", list(COUNTED_REQUESTS))
def test_count_tokens_equals_what_generation_reports(tiny: anthropic.Anthropic, name: str) -> None:
    request = COUNTED_REQUESTS[name]
    counted = tiny.messages.count_tokens(model=TINY, **request).input_tokens
    for _ in range(2):  # the second run is served partly from the prefix cache
        usage = tiny.messages.create(model=TINY, max_tokens=2, **request).usage
        assert usage.input_tokens + usage.cache_read_input_tokens == counted
    assert usage.cache_read_input_tokens > 0


def test_count_tokens_counts_tools_and_system(tiny: anthropic.Anthropic) -> None:
    plain = tiny.messages.count_tokens(model=TINY, messages=ASK_WEATHER).input_tokens
    assert tiny.messages.count_tokens(model=TINY, messages=ASK_WEATHER, tools=TOOLS).input_tokens > plain
    assert tiny.messages.count_tokens(model=TINY, messages=ASK_WEATHER, system="Be terse.").input_tokens > plain


def test_models_list_ends_and_retrieve_finds_or_404s(tiny: anthropic.Anthropic, server: RunningServer) -> None:
    ids = [model.id for model in tiny.models.list()]
    assert "ai/tiny:latest" in ids
    assert tiny.models.retrieve("ai/tiny").id == "ai/tiny"
    assert [m.id for m in client_for(server, "/anthropic").models.list()] == ids
    with pytest.raises(anthropic.NotFoundError):
        tiny.models.retrieve("ai/does-not-exist")


def test_named_tool_choice_on_a_native_template_yields_that_tool_with_valid_input(tiny: anthropic.Anthropic) -> None:
    message = tiny.messages.create(model=TINY, max_tokens=400, messages=ASK_WEATHER, tools=TOOLS,
                                   tool_choice={"type": "tool", "name": "get_weather"})
    assert message.stop_reason == "tool_use" and len(message.content) == 1
    assert_valid_tool_use(message.content[0], "get_weather")
    checked = streamed(tiny, model=TINY, max_tokens=400, messages=ASK_WEATHER, tools=TOOLS,
                       tool_choice={"type": "tool", "name": "get_weather"})
    assert checked.stop_reason == "tool_use" and [t["name"] for t in checked.tool_uses] == ["get_weather"]
    jsonschema.validate(checked.tool_uses[0]["input"], CITY_TOOL["input_schema"])


def test_tool_choice_none_yields_no_tool_call(tiny: anthropic.Anthropic) -> None:
    message = tiny.messages.create(model=TINY, max_tokens=40, messages=ASK_WEATHER, tools=TOOLS,
                                   tool_choice={"type": "none"})
    assert all(block.type != "tool_use" for block in message.content) and message.stop_reason != "tool_use"


def test_stop_sequences_end_the_answer_and_are_left_out(tiny: anthropic.Anthropic) -> None:
    stops = ["a", "e", "n", "t"]
    message = tiny.messages.create(model=TINY, max_tokens=300, messages=ASK_WEATHER, stop_sequences=stops)
    assert message.stop_reason == "stop_sequence" and message.stop_sequence in stops
    assert not any(stop in message.content[0].text for stop in stops) if message.content else True
    checked = streamed(tiny, model=TINY, max_tokens=300, messages=ASK_WEATHER, stop_sequences=stops)
    assert checked.stop_reason == "stop_sequence" and checked.stop_sequence in stops
    assert not any(stop in checked.text for stop in stops)


def test_max_tokens_beyond_the_context_is_clamped_not_refused(tiny: anthropic.Anthropic) -> None:
    message = tiny.messages.create(model=TINY, max_tokens=100_000, messages=ASK_WEATHER)
    assert message.stop_reason in ("model_context_window_exceeded", "end_turn")


def test_a_prompt_larger_than_the_context_is_anthropics_400(tiny: anthropic.Anthropic, server: RunningServer) -> None:
    long = [{"role": "user", "content": "hello " * 2500}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        tiny.messages.create(model=TINY, max_tokens=10, messages=long)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith("prompt is too long: ")
    assert caught.value.body["error"]["message"].endswith(" tokens > 2048 maximum")
    # Streamed too, it is the 400 (before any byte), so clients that compact on it (Claude Code) do.
    response = httpx.post(server.url + "/v1/messages", timeout=60,
                          json={"model": TINY, "max_tokens": 10, "stream": True, "messages": long})
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": caught.value.body["error"]["message"]}
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        streamed(tiny, model=TINY, max_tokens=10, messages=long)
    fits = streamed(tiny, model=TINY, max_tokens=4, messages=[{"role": "user", "content": "hello " * 100}])
    assert fits.error is None and fits.stop_reason in ("max_tokens", "end_turn")


def test_thinking_requested_of_a_model_that_cannot_think_is_not_an_error(tiny: anthropic.Anthropic) -> None:
    for thinking in ({"type": "enabled", "budget_tokens": 1024}, {"type": "disabled"}):
        message = tiny.messages.create(model=TINY, max_tokens=4, messages=ASK_WEATHER, thinking=thinking)
        assert message.content and all(block.type != "thinking" for block in message.content)


def test_disconnecting_a_stream_returns_the_runner(server: RunningServer) -> None:
    with httpx.stream("POST", server.url + "/v1/messages", timeout=60,
                      json={"model": TINY, "max_tokens": 100_000, "stream": True, "messages": ASK_WEATHER}) as response:
        lines = response.iter_lines()
        assert next(lines) == "event: message_start"
        for _ in range(20):
            next(lines)
    for _ in range(200):
        if not any(runner["in_use"] for runner in httpx.get(server.url + "/engines/ps").json()):
            break
        threading.Event().wait(0.05)
    assert not any(runner["in_use"] for runner in httpx.get(server.url + "/engines/ps").json())


def test_named_tool_with_local_refs_in_its_schema_yields_valid_input(tiny: anthropic.Anthropic) -> None:
    digit = {"type": "integer", "minimum": 0, "maximum": 9}
    tool = {"name": "add", "description": "Add two digits", "input_schema": {
        "type": "object", "$defs": {"Digit": digit}, "properties": {"a": {"$ref": "#/$defs/Digit"}, "b": {"$ref": "#/$defs/Digit"}},
        "required": ["a", "b"], "additionalProperties": False}}
    message = tiny.messages.create(model=TINY, max_tokens=400, messages=ASK_WEATHER, tools=[tool],
                                   tool_choice={"type": "tool", "name": "add"})
    assert message.stop_reason == "tool_use" and message.content[0].name == "add"
    jsonschema.validate(message.content[0].input, ADD_TOOL["input_schema"])


# The tiny model with prompted tools: strict calls under tool_choice auto.

STRICT_ADD = {**ADD_TOOL, "strict": True,  # strict schemas close their objects, as Anthropic requires
              "input_schema": {**ADD_TOOL["input_schema"], "additionalProperties": False}}
OPEN_CALL = [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "<tool_call>"}]
WARM = {"temperature": 1.0}
RUNS = 6


def valid_add_call(content: list[Any]) -> bool:
    calls = [block for block in content if block.type == "tool_use"]
    return len(calls) == 1 and calls[0].name == "add" and jsonschema.Draft202012Validator(
        ADD_TOOL["input_schema"]).is_valid(calls[0].input)


def test_prompted_strict_tool_calls_under_auto_are_valid_once_the_model_opens_one(plain_tiny: anthropic.Anthropic) -> None:
    request = {"model": PLAIN_TINY, "max_tokens": 120, "messages": OPEN_CALL, "tools": [STRICT_ADD],
               "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}, "extra_body": WARM}
    for _ in range(RUNS):
        message = plain_tiny.messages.create(**request)
        assert message.stop_reason == "tool_use" and valid_add_call(message.content), message.content
    checked = streamed(plain_tiny, **request)
    assert checked.stop_reason == "tool_use" and [t["name"] for t in checked.tool_uses] == ["add"]
    jsonschema.validate(checked.tool_uses[0]["input"], ADD_TOOL["input_schema"])


def test_prompted_calls_of_a_tool_that_is_not_strict_are_not_constrained(plain_tiny: anthropic.Anthropic) -> None:
    request = {"model": PLAIN_TINY, "max_tokens": 120, "messages": OPEN_CALL, "tools": [{**STRICT_ADD, "strict": False}],
               "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}, "extra_body": WARM}
    answers = [plain_tiny.messages.create(**request).content for _ in range(RUNS)]
    assert not all(valid_add_call(content) for content in answers)


def test_prompted_strict_tools_leave_the_text_free_until_a_call_opens(plain_tiny: anthropic.Anthropic) -> None:
    message = plain_tiny.messages.create(model=PLAIN_TINY, max_tokens=24, messages=ASK_WEATHER, tools=[STRICT_ADD],
                                         extra_body={"temperature": 0})
    assert message.stop_reason == "max_tokens" and [block.type for block in message.content] == ["text"]
    assert not message.content[0].text.lstrip().startswith(("{", "<tool_call>"))


# The default model: a real conversation, a template that knows nothing of tools.

def test_default_model_answers_claude_names_and_echoes_them(smol: anthropic.Anthropic) -> None:
    message = smol.messages.create(model="claude-haiku-4-5-20251001", max_tokens=16, extra_body=GREEDY,
                                   messages=[{"role": "user", "content": "Say hello."}])
    assert message.model == "claude-haiku-4-5-20251001" and message.content[0].text.strip()


def test_default_model_prefill_is_continued(smol: anthropic.Anthropic) -> None:
    message = smol.messages.create(model=SMOL, max_tokens=8, extra_body=GREEDY, messages=[
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is"}])
    assert "Paris" in message.content[0].text


STRICT_CITY = {**CITY_TOOL, "strict": True,
               "input_schema": {**CITY_TOOL["input_schema"], "additionalProperties": False}}
TWO_CITIES_SHOWN = [  # one earlier exchange in which two calls were made in one turn
    {"role": "user", "content": "What is the weather in Paris and in Rome?"},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C and sunny"},
                                 {"type": "tool_result", "tool_use_id": "toolu_02", "content": "24C and cloudy"}]},
    {"role": "assistant", "content": "Paris: 18C and sunny. Rome: 24C and cloudy."},
    {"role": "user", "content": "What is the weather in Rome and in Paris?"},
]


def test_default_model_writes_several_tool_uses_in_one_turn_and_takes_their_results(smol: anthropic.Anthropic) -> None:
    """SmolLM2's template knows no tools, so calls are prompted: shown one exchange with two calls and
    its first call opened by a prefill, the model writes the calls itself (each constrained to the
    strict schema once opened) and the turn comes back as several tool_use blocks. Their results, sent
    back together in the next user turn, are taken."""
    asked = [*TWO_CITIES_SHOWN, {"role": "assistant", "content": "<tool_call>"}]
    message = smol.messages.create(model=SMOL, max_tokens=120, messages=asked, tools=[STRICT_CITY], extra_body=GREEDY)
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) >= 2 and len({call.id for call in calls}) == len(calls)
    for call in calls:
        assert call.name == "get_weather"
        jsonschema.validate(call.input, STRICT_CITY["input_schema"])
    assert {call.input["city"] for call in calls} == {"Paris", "Rome"}
    weather = {"Paris": "17C and rainy", "Rome": "25C and sunny"}
    answered = [*TWO_CITIES_SHOWN, {"role": "assistant", "content": [block.model_dump() for block in message.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": weather[call.input["city"]]} for call in calls]}]
    answer = smol.messages.create(model=SMOL, max_tokens=24, messages=answered, tools=[STRICT_CITY], extra_body=GREEDY)
    assert answer.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert answer.content

    def prompt(usage: Any) -> int:
        return usage.input_tokens + usage.cache_read_input_tokens

    assert prompt(answer.usage) > prompt(message.usage) + 20  # the calls and their results were rendered


def test_default_model_stop_sequence(smol: anthropic.Anthropic) -> None:
    message = smol.messages.create(model=SMOL, max_tokens=40, extra_body=GREEDY, stop_sequences=["three"], messages=[
        {"role": "user", "content": "Count from one to five in words: one, two, three, four, five."}])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "three"
    assert "three" not in message.content[0].text


def test_default_model_mid_conversation_system_messages_are_accepted(smol: anthropic.Anthropic) -> None:
    message = smol.messages.create(model=SMOL, max_tokens=8, extra_body=GREEDY, system="You are terse.", messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "system", "content": "<system-reminder>Stay brief.</system-reminder>"},
        {"role": "user", "content": "Name a colour."}])
    assert message.content


@pytest.mark.parametrize("choice", [{"type": "tool", "name": "add"}, {"type": "tool", "name": "get_weather"}])
def test_default_model_named_tool_choice_yields_that_tool_with_valid_input(smol: anthropic.Anthropic, choice: dict) -> None:
    message = smol.messages.create(model=SMOL, max_tokens=120, extra_body=GREEDY, messages=ASK_WEATHER, tools=TOOLS,
                                   tool_choice=choice)
    assert message.stop_reason == "tool_use" and [b.type for b in message.content] == ["tool_use"]
    assert_valid_tool_use(message.content[0], choice["name"])


def test_default_model_any_with_parallel_disabled_yields_one_valid_call(smol: anthropic.Anthropic) -> None:
    with smol.messages.stream(model=SMOL, max_tokens=120, extra_body=GREEDY, messages=ASK_WEATHER, tools=TOOLS,
                              tool_choice={"type": "any", "disable_parallel_tool_use": True}) as stream:
        final = stream.get_final_message()
    calls = [block for block in final.content if block.type == "tool_use"]
    assert final.stop_reason == "tool_use" and len(calls) == 1
    assert_valid_tool_use(calls[0])


def test_default_model_tool_choice_none_and_a_tool_loop(smol: anthropic.Anthropic) -> None:
    none = smol.messages.create(model=SMOL, max_tokens=30, extra_body=GREEDY, messages=ASK_WEATHER, tools=TOOLS,
                                tool_choice={"type": "none"})
    assert none.stop_reason != "tool_use" and all(block.type == "text" for block in none.content)
    checked = streamed(smol, model=SMOL, max_tokens=30, extra_body=GREEDY, messages=TOOL_LOOP, tools=TOOLS)
    assert checked.blocks


def test_default_model_count_tokens_equals_generation_with_prompted_tools(smol: anthropic.Anthropic) -> None:
    for request in ({"messages": TOOL_LOOP, "tools": TOOLS}, {"messages": ASK_WEATHER, "tools": TOOLS,
                                                             "tool_choice": {"type": "any"}}):
        counted = smol.messages.count_tokens(model=SMOL, **request).input_tokens
        usage = smol.messages.create(model=SMOL, max_tokens=1, **request).usage
        assert usage.input_tokens + usage.cache_read_input_tokens == counted


def test_default_model_counts_along_a_growing_conversation_equal_generation(
    default_model_server: RunningServer, smol: anthropic.Anthropic
) -> None:
    """count_tokens remembers the counts of prompt prefixes and tokenises only the new turns; every count
    along a growing conversation must still equal what generation reports."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Name a harbour."}]
    for step in range(5):
        request = {"system": "You are terse.", "messages": messages, "tools": TOOLS}
        counted = smol.messages.count_tokens(model=SMOL, **request).input_tokens
        usage = smol.messages.create(model=SMOL, max_tokens=1, **request).usage
        assert usage.input_tokens + usage.cache_read_input_tokens == counted
        messages = [*messages, {"role": "assistant", "content": f"Harbour {step}: naïve café, 港口 ✓."},
                    {"role": "user", "content": f"And another one, number {step}?"}]
    assert "not additive" not in default_model_server.log()  # the counts above came from remembered prefixes


def test_default_model_count_tokens_answers_while_every_slot_is_generating(
    default_model_server: RunningServer, smol: anthropic.Anthropic
) -> None:
    busy: list[Iterator[str]] = []
    responses = []
    with httpx.Client(base_url=default_model_server.url, timeout=120) as http:
        try:
            for _ in range(6):  # four slots busy and two queued behind them
                response = http.send(http.build_request("POST", "/v1/messages", json={
                    "model": SMOL, "max_tokens": 2000, "stream": True,
                    "messages": [{"role": "user", "content": "Write a very long story about the sea."}]}), stream=True)
                responses.append(response)
                busy.append(response.iter_lines())
            for lines in busy[:4]:
                while next(lines) != "event: content_block_delta":
                    pass
            counted = smol.messages.count_tokens(model=SMOL, messages=ASK_WEATHER).input_tokens
            assert counted > 0
            still_running = [http.get("/engines/ps").json()[0]]
            assert still_running[0]["in_use"]
        finally:
            for response in responses:
                response.close()


def engine_slots_busy(server: RunningServer) -> list[bool]:
    """Ask the llama.cpp worker itself which slots are generating (its /slots, on its Unix socket)."""
    [runner] = [r for r in httpx.get(server.url + "/engines/ps").json() if r["model_name"].startswith(SMOL)]
    [socket_path] = {c.laddr for c in psutil.Process(runner["pid"]).net_connections("unix") if c.laddr}
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket_path)) as worker:
        return [slot["is_processing"] for slot in worker.get("http://worker/slots").json()]


def test_default_model_client_disconnect_stops_the_generation_in_the_engine(
    default_model_server: RunningServer,
) -> None:
    body = {"model": SMOL, "max_tokens": 1500, "stream": True, "temperature": 0,
            "messages": [{"role": "user", "content": "Write a very long story about the sea."}]}
    with httpx.stream("POST", default_model_server.url + "/v1/messages", json=body, timeout=120) as response:
        # Hold the line iterator: a `break` out of a for loop would close it, and so the connection.
        lines = response.iter_lines()
        deltas = 0
        while deltas < 3:
            deltas += next(lines) == "event: content_block_delta"
        assert any(engine_slots_busy(default_model_server))
    for _ in range(100):
        if not any(engine_slots_busy(default_model_server)):
            break
        threading.Event().wait(0.1)
    assert not any(engine_slots_busy(default_model_server))


def test_default_model_cancelled_concurrent_streams_all_stop_in_the_engine(default_model_server: RunningServer) -> None:
    body = {"model": SMOL, "max_tokens": 1500, "stream": True, "temperature": 0,
            "messages": [{"role": "user", "content": "Write a very long story about the sea."}]}

    async def cancel_while_generating() -> None:
        async with httpx.AsyncClient(base_url=default_model_server.url, timeout=120) as http:
            generating = asyncio.Semaphore(0)

            async def read() -> None:
                async with http.stream("POST", "/v1/messages", json=body) as response:
                    async for line in response.aiter_lines():
                        if line == "event: content_block_delta":
                            generating.release()

            readers = [asyncio.create_task(read()) for _ in range(3)]
            for _ in readers:
                await generating.acquire()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    asyncio.run(cancel_while_generating())
    for _ in range(100):
        if not any(engine_slots_busy(default_model_server)):
            break
        threading.Event().wait(0.1)
    assert not any(engine_slots_busy(default_model_server))
