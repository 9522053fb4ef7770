"""Thinking end to end, through llama.cpp's own reasoning parser: the tiny random model behind a
Qwen3-style template whose generation prompt opens `<think>` (and closes it at once when thinking is
turned off). The random model never writes `</think>` by itself, so everything it writes is thinking
unless the engine ends the thinking: which makes the budget visible as the text that follows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.anthropic_stream import check_sdk_events
from tests.support.server import RunningServer

THINKER = "ai/tiny-thinker"
THINKING_CHATML = (
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}{{- '<|im_start|>assistant\\n' -}}"
    "{%- if message.reasoning_content is defined and message.reasoning_content -%}"
    "{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' -}}{%- endif -%}"
    "{{- (message.content if message.content is string else '') + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + (message.content if message.content is string else '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- else -%}{{- '<think>\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)
ASK = [{"role": "user", "content": "Think, then answer: what is 2 + 2?"}]
BUDGET = 1024  # Anthropic's smallest budget


@pytest.fixture(scope="module")
def thinker(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[anthropic.Anthropic]:
    root = tmp_path_factory.mktemp("thinker")
    template = root / "thinking.jinja"
    template.write_text(THINKING_CHATML)
    store = ModelStore(root / "store")
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], chat_template_path=template), [parse_reference(THINKER)])
    with RunningServer(store.root, root / "server.log") as running:
        yield anthropic.Anthropic(base_url=running.url, api_key="not-needed", max_retries=0, timeout=120)


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
