"""Reasoning items in the Responses API, through the official `openai` SDK: the tiny model behind the
Qwen3-style thinking template of `tests/support/thinking_model.py` (its generation prompt opens `<think>` and the
random model never closes it, so everything it writes is reasoning unless thinking is turned off)."""

from __future__ import annotations

import openai
import pytest

from tests.support.server import RunningServer
from tests.support.thinking_model import THINKER


@pytest.fixture(scope="module")
def client(thinker_server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=thinker_server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_thinking_is_a_reasoning_item(client: openai.OpenAI) -> None:
    response = client.responses.create(model=THINKER, input="Think first.", max_output_tokens=16)
    [reasoning] = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.content and reasoning.content[0].type == "reasoning_text" and reasoning.content[0].text
    assert response.output_text == ""  # reasoning is not the answer


def test_reasoning_effort_none_turns_thinking_off(client: openai.OpenAI) -> None:
    response = client.responses.create(model=THINKER, input="Answer at once.", max_output_tokens=8,
                                       reasoning={"effort": "none"})
    assert [item.type for item in response.output] == ["message"] and response.output_text


def test_streamed_reasoning_deltas_make_the_final_item(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=THINKER, input="Think.", max_output_tokens=12, stream=True))
    kinds = [event.type for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert events[2].item.type == "reasoning"
    assert "response.reasoning_text.done" in kinds and "response.output_item.done" in kinds
    deltas = "".join(event.delta for event in events if event.type == "response.reasoning_text.delta")
    [item] = events[-1].response.output
    assert deltas and item.content[0].text == deltas


def test_reasoning_items_continue_by_id_and_as_input(client: openai.OpenAI) -> None:
    first = client.responses.create(model=THINKER, input="Think.", max_output_tokens=8)
    chained = client.responses.create(model=THINKER, input="Go on.", previous_response_id=first.id,
                                      max_output_tokens=4)
    assert chained.usage.input_tokens > first.usage.input_tokens
    # What a stateless client (Codex with store: false) sends back: the earlier output items as input.
    replayed = [{"role": "user", "content": "Think."}, *(item.model_dump(exclude_none=True) for item in first.output),
                {"role": "user", "content": "Go on."}]
    again = client.responses.create(model=THINKER, input=replayed, store=False, max_output_tokens=4)
    assert again.status == "incomplete" and again.output
