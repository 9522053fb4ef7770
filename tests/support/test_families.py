"""Check that each family fixture makes llama.cpp detect what it detects for the real model: the chat
format and generation prompt its template analysis picks (read back from the slot that served a
request), whether the template renders tools and parallel calls, and the family's own markup in the
rendered prompt (tool ids in Mistral's form, harmony channels, an opened think block)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import gguf
import httpx
import pytest

from .families import FAMILIES, Family, write_family_gguf

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ASK = [{"role": "user", "content": "Weather in Paris?"}]
CALLED = [*ASK,
          {"role": "assistant", "content": "", "tool_calls": [
              {"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
          {"role": "tool", "tool_call_id": "abcDEF123", "content": "18C"}]

# What llama.cpp's common/chat.cpp makes of each template: gpt-oss has a dedicated handler (found by
# its <|channel|> marker), the others go through the differential autoparser; all parse as peg-native.
EXPECTED: dict[str, dict[str, Any]] = {
    "qwen3": {"generation_prompt": "<|im_start|>assistant\n", "tools": True, "parallel": True,
              "call_markup": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'},
    "llama3": {"generation_prompt": "<|start_header_id|>assistant<|end_header_id|>\n\n", "tools": True,
               "parallel": False, "call_markup": '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'},
    "mistral": {"generation_prompt": "", "tools": True, "parallel": True,
                "call_markup": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcDEF123"}]'},
    "gemma3": {"generation_prompt": "<start_of_turn>model\n", "tools": False, "parallel": False,
               "call_markup": None},
    "gpt-oss": {"generation_prompt": "<|start|>assistant", "tools": True, "parallel": True,
                "call_markup": '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json'
                               '<|message|>{"city": "Paris"}<|call|>'},
    "deepseek-r1-distill": {"generation_prompt": "<｜Assistant｜><think>\n", "tools": True, "parallel": True,
                            "call_markup": "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"},
    "phi4-mini": {"generation_prompt": "<|assistant|>", "tools": True, "parallel": True,
                  "call_markup": '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>'},
    "smollm3": {"generation_prompt": "<|im_start|>assistant\n", "tools": True, "parallel": True,
                "call_markup": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'},
}


@pytest.fixture(scope="module", params=FAMILIES, ids=[family.name for family in FAMILIES])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Family, httpx.Client]]:
    """The family's fixture in a llama.cpp worker (as the runner starts it); yields an httpx client."""
    family: Family = request.param
    path = write_family_gguf(tmp_path_factory.mktemp("family") / f"{family.name}.gguf", family)
    config = {"model_path": str(path), "parallel_slots": 1, "context_size": 2048, "threads": 1}
    log_path = path.with_suffix(".log")
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "modelrunner.engines.llamacpp.worker", json.dumps(config)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    try:
        assert worker.stdout is not None
        event = json.loads(worker.stdout.readline() or b"{}")
        if event.get("event") != "ready":
            pytest.fail(f"{family.name} did not load: {event}\n{log_path.read_text()}")
        with httpx.Client(base_url=event["url"], timeout=60) as client:
            yield family, client
    finally:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(timeout=10)


def test_fixture_is_small_and_carries_the_family_tokens(tmp_path: pathlib.Path) -> None:
    for family in FAMILIES:
        path = write_family_gguf(tmp_path / f"{family.name}.gguf", family)
        assert path.stat().st_size < 1_000_000
        reader = gguf.GGUFReader(path)
        tokens = reader.fields["tokenizer.ggml.tokens"].contents()
        types = reader.fields["tokenizer.ggml.token_type"].contents()
        kinds = dict(zip(tokens, types, strict=True))
        for token in family.special_tokens:
            wanted = gguf.TokenType.USER_DEFINED if token in family.user_defined else gguf.TokenType.CONTROL
            assert kinds[token] == wanted, (family.name, token)


def test_detected_chat_format(loaded: tuple[Family, httpx.Client]) -> None:
    family, client = loaded
    expected = EXPECTED[family.name]
    answer = client.post("/v1/chat/completions", json={"messages": ASK, "tools": TOOLS, "max_tokens": 1})
    assert answer.status_code in (200, 500), answer.text  # gpt-oss's parser refuses random text (see below)
    params = client.get("/slots").json()[0]["params"]
    assert params["chat_format"] == "peg-native"
    assert params["generation_prompt"] == expected["generation_prompt"]
    caps = client.get("/props").json()["chat_template_caps"]
    assert caps["supports_tools"] is expected["tools"]
    assert caps["supports_parallel_tool_calls"] is expected["parallel"]


def test_calls_render_in_the_family_markup(loaded: tuple[Family, httpx.Client]) -> None:
    family, client = loaded
    markup = EXPECTED[family.name]["call_markup"]
    rendered = client.post("/apply-template", json={"messages": CALLED if markup else ASK, "tools": TOOLS})
    assert rendered.status_code == 200, rendered.text
    if markup:
        assert markup in rendered.json()["prompt"]
