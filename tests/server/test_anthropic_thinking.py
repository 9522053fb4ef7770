"""Thinking end to end, through llama.cpp's own reasoning parser: the tiny random model behind a
Qwen3-style template whose generation prompt opens `<think>` (and closes it at once when thinking is
turned off). The random model never writes `</think>` by itself, so everything it writes is thinking
unless the engine ends the thinking: which makes the budget visible as the text that follows it."""

from __future__ import annotations

import anthropic
import pytest

from tests.support.anthropic_stream import check_sdk_events
from tests.support.server import RunningServer
from tests.support.thinking_model import THINKER

ASK = [{"role": "user", "content": "Think, then answer: what is 2 + 2?"}]
BUDGET = 1024  # Anthropic's smallest budget


@pytest.fixture(scope="module")
def thinker(thinker_server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=thinker_server.url, api_key="not-needed", max_retries=0, timeout=120)


def test_thinking_comes_out_as_a_thinking_block_with_a_signature(thinker: anthropic.Anthropic) -> None:
    message = thinker.messages.create(model=THINKER, max_tokens=40, messages=ASK,
                                      thinking={"type": "enabled", "budget_tokens": BUDGET})
    assert message.content[0].type == "thinking" and message.content[0].thinking and message.content[0].signature
    with thinker.messages.create(model=THINKER, max_tokens=40, messages=ASK, stream=True,
                                 thinking={"type": "enabled", "budget_tokens": BUDGET}) as events:
        checked = check_sdk_events(list(events))
    assert checked.blocks[0]["type"] == "thinking" and checked.blocks[0]["signature"]


def test_the_budget_ends_the_thinking_and_the_answer_follows(thinker: anthropic.Anthropic) -> None:
    message = thinker.messages.create(model=THINKER, max_tokens=BUDGET + 200, messages=ASK,
                                      thinking={"type": "enabled", "budget_tokens": BUDGET})
    kinds = [block.type for block in message.content]
    assert kinds == ["thinking", "text"], kinds
    assert message.usage.output_tokens > BUDGET


def test_thinking_disabled_answers_without_thinking(thinker: anthropic.Anthropic) -> None:
    message = thinker.messages.create(model=THINKER, max_tokens=40, messages=ASK, thinking={"type": "disabled"})
    assert [block.type for block in message.content] == ["text"]


def test_earlier_thinking_is_accepted_with_any_signature(thinker: anthropic.Anthropic) -> None:
    history = [*ASK, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Two and two make four.", "signature": "from-another-server"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "4"}]}, {"role": "user", "content": "And 3 + 3?"}]
    message = thinker.messages.create(model=THINKER, max_tokens=20, messages=history,
                                      thinking={"type": "enabled", "budget_tokens": BUDGET})
    assert message.content and message.content[0].type == "thinking"
