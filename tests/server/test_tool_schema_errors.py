"""A tool schema no grammar can honour is a 400 naming the tool, in each API's envelope, before any
engine sees it: under Anthropic's `tool_choice` any/tool and strict tools, OpenAI's `tool_choice`
required/named and `strict`, and Ollama's tools; for a template that renders tools (Qwen3's, where
llama.cpp builds the grammar from every tool even under auto) and one that does not (the tiny model's,
where the tools are prompted and a forced call is decoded under the call's JSON schema).

Before the check, a string whose minLength exceeds its maxLength under a forced call left the
worker decoding forever (the request and every later one to that model timed out), and the engine's
own refusals of a dangling `$ref`, an unknown type or an unbalanced pattern never said which tool; a
lookahead was not refused at all, though no grammar can hold a call to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.anthropic_stream import parse_sse
from tests.support.families import FAMILY_BY_NAME, write_family_gguf
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf

NATIVE_MODEL = "ai/qwen3-fixture"
TOOL = "lookup_order"
HELLO = [{"role": "user", "content": "Where is my order?"}]


def with_property(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"order": schema}, "required": ["order"]}


SCHEMAS = {
    "empty-length-range": with_property({"type": "string", "minLength": 5, "maxLength": 1}),
    "dangling-ref": with_property({"$ref": "#/$defs/missing"}),
    "remote-ref": with_property({"$ref": "https://example.com/order.json"}),
    "unknown-type": with_property({"type": "order-id"}),
    "unbalanced-pattern": with_property({"type": "string", "pattern": "^(A[0-9]+$"}),
    "lookahead-pattern": with_property({"type": "string", "pattern": "^(?=B)A+$"}),
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("tool-schemas")
    store = make_tiny_store(root / "store", write_tiny_llama_gguf(root / "tiny.gguf"))
    qwen3 = write_family_gguf(root / "qwen3.gguf", FAMILY_BY_NAME["qwen3"])
    package_gguf(store, PackageSpec(gguf_paths=[qwen3]), [parse_reference(NATIVE_MODEL)])
    with RunningServer(store.root, root / "server.log") as running:
        yield running


def anthropic_body(model: str, schema: dict[str, Any], mode: str) -> tuple[str, dict[str, Any]]:
    tool: dict[str, Any] = {"name": TOOL, "description": "Find an order.", "input_schema": schema}
    body: dict[str, Any] = {"model": model, "max_tokens": 32, "messages": HELLO, "tools": [tool]}
    if mode == "strict":
        tool["strict"] = True
    else:
        body["tool_choice"] = {"type": "any"} if mode == "any" else {"type": "tool", "name": TOOL}
    return "/v1/messages", body


def openai_body(model: str, schema: dict[str, Any], mode: str) -> tuple[str, dict[str, Any]]:
    function: dict[str, Any] = {"name": TOOL, "description": "Find an order.", "parameters": schema}
    body: dict[str, Any] = {"model": model, "max_tokens": 32, "messages": HELLO,
                            "tools": [{"type": "function", "function": function}]}
    if mode == "strict":
        function["strict"] = True
    else:
        body["tool_choice"] = "required" if mode == "required" else {"type": "function", "function": {"name": TOOL}}
    return "/v1/chat/completions", body


def ollama_body(model: str, schema: dict[str, Any], mode: str) -> tuple[str, dict[str, Any]]:
    return "/api/chat", {"model": model, "stream": False, "messages": HELLO, "options": {"num_predict": 32},
                         "tools": [{"type": "function", "function": {"name": TOOL, "parameters": schema}}]}


def anthropic_message(answer: Any) -> str:
    assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    return str(answer["error"]["message"])


def openai_message(answer: Any) -> str:
    assert answer["error"]["type"] == "invalid_request_error"
    return str(answer["error"]["message"])


def ollama_message(answer: Any) -> str:
    assert set(answer) == {"error"}
    return str(answer["error"])


def refusal(runner: RunningServer, request: tuple[str, dict[str, Any]], message_of: Any) -> str:
    """The error message of a request that must be a 400, in its API's envelope."""
    path, body = request
    answer = httpx.post(runner.url + path, json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    return message_of(answer.json())


API_CASES = [
    pytest.param(anthropic_body, mode, anthropic_message, id=f"anthropic-{mode}") for mode in ("any", "tool", "strict")
] + [
    pytest.param(openai_body, mode, openai_message, id=f"openai-{mode}") for mode in ("required", "named", "strict")
] + [pytest.param(ollama_body, "tools", ollama_message, id="ollama")]


@pytest.mark.parametrize("model", [TINY_MODEL, NATIVE_MODEL])
@pytest.mark.parametrize("schema_name", list(SCHEMAS))
@pytest.mark.parametrize(("build", "mode", "message_of"), API_CASES)
def test_a_schema_no_grammar_can_honour_is_a_400_naming_the_tool(
        runner: RunningServer, model: str, schema_name: str, build: Any, mode: str, message_of: Any) -> None:
    message = refusal(runner, build(model, SCHEMAS[schema_name], mode), message_of)
    assert f"tool '{TOOL}'" in message and "#/properties/order" in message, message


ENGINE_REFUSED = {  # valid JSON schemas whose grammar llama.cpp refuses to build (too large)
    "huge-length": with_property({"type": "string", "minLength": 200000}),
    "huge-repetition-pattern": with_property({"type": "string", "pattern": "^A{500000}$"}),
    "huge-item-count": with_property({"type": "array", "minItems": 100000, "items": {"type": "integer"}}),
}


@pytest.mark.parametrize("model", [TINY_MODEL, NATIVE_MODEL])
@pytest.mark.parametrize("schema_name", list(ENGINE_REFUSED))
@pytest.mark.parametrize(("build", "mode", "message_of"), API_CASES)
def test_a_schema_the_engine_cannot_compile_is_a_400_naming_the_tool(
        runner: RunningServer, model: str, schema_name: str, build: Any, mode: str, message_of: Any) -> None:
    message = refusal(runner, build(model, ENGINE_REFUSED[schema_name], mode), message_of)
    assert message.startswith(f"tool '{TOOL}': "), message
    assert "grammar" in message


def test_a_streamed_request_with_a_schema_we_refuse_is_a_400(runner: RunningServer) -> None:
    path, body = anthropic_body(NATIVE_MODEL, SCHEMAS["dangling-ref"], "any")
    answer = httpx.post(runner.url + path, json={**body, "stream": True}, timeout=60)
    assert answer.status_code == 400, answer.text
    assert anthropic_message(answer.json()).startswith(f"tool '{TOOL}'")


def test_a_streamed_request_the_engine_refuses_ends_in_an_error_event_naming_the_tool(runner: RunningServer) -> None:
    """The stream has begun (`message_start`) when the engine refuses the grammar, so the refusal is
    Anthropic's in-stream `error` event, still an invalid_request_error that names the tool."""
    path, body = anthropic_body(NATIVE_MODEL, ENGINE_REFUSED["huge-length"], "any")
    answer = httpx.post(runner.url + path, json={**body, "stream": True}, timeout=60)
    events = parse_sse(answer.content)
    assert [name for name, _ in events] == ["message_start", "error"], events
    assert anthropic_message(events[-1][1]).startswith(f"tool '{TOOL}': ")


@pytest.mark.parametrize("model", [TINY_MODEL, NATIVE_MODEL])
def test_the_model_answers_after_a_refused_schema(runner: RunningServer, model: str) -> None:
    path, body = anthropic_body(model, SCHEMAS["empty-length-range"], "any")
    assert httpx.post(runner.url + path, json=body, timeout=60).status_code == 400
    plain = httpx.post(runner.url + "/v1/messages", timeout=60,
                       json={"model": model, "max_tokens": 4, "messages": HELLO})
    assert plain.status_code == 200, plain.text


OUTPUT_FORMATS = [
    pytest.param("/v1/chat/completions", {"max_tokens": 32, "response_format": {"type": "json_schema", "json_schema": {
        "name": "order", "schema": SCHEMAS["empty-length-range"]}}}, openai_message, id="openai"),
    pytest.param("/v1/messages", {"max_tokens": 32, "output_config": {"format": {
        "type": "json_schema", "schema": SCHEMAS["empty-length-range"]}}}, anthropic_message, id="anthropic"),
    pytest.param("/api/chat", {"stream": False, "format": SCHEMAS["empty-length-range"]}, ollama_message, id="ollama"),
]


@pytest.mark.parametrize(("path", "extra", "message_of"), OUTPUT_FORMATS)
def test_an_output_format_no_grammar_can_honour_is_a_400(runner: RunningServer, path: str, extra: dict[str, Any],
                                                         message_of: Any) -> None:
    answer = httpx.post(runner.url + path, timeout=60, json={"model": TINY_MODEL, "messages": HELLO, **extra})
    assert answer.status_code == 400, answer.text
    message = message_of(answer.json())
    assert "output format" in message and "minLength 5 is above maxLength 1" in message


MULTIPLE_OF_SEVEN = with_property({"type": "integer", "multipleOf": 7})


@pytest.mark.parametrize(("build", "mode", "message_of"), [
    pytest.param(anthropic_body, "strict", anthropic_message, id="anthropic"),
    pytest.param(openai_body, "strict", openai_message, id="openai")])
def test_a_strict_tool_using_a_keyword_the_grammar_leaves_out_is_a_400(runner: RunningServer, build: Any, mode: str,
                                                                       message_of: Any) -> None:
    """Before, forced calls of such a strict tool came back as tool_use with inputs its schema refuses
    (multiples of 7 asked for: 55 came back)."""
    path, body = build(TINY_MODEL, MULTIPLE_OF_SEVEN, mode)
    answer = httpx.post(runner.url + path, json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    message = message_of(answer.json())
    assert f"tool '{TOOL}' is strict" in message and "`multipleOf` at #/properties/order" in message


def test_the_same_tool_not_strict_is_called(runner: RunningServer) -> None:
    path, body = anthropic_body(TINY_MODEL, MULTIPLE_OF_SEVEN, "any")
    assert httpx.post(runner.url + path, json=body, timeout=60).status_code == 200
