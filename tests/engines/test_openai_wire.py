"""ChatRequest -> the engine's request body: reasoning controls."""

from __future__ import annotations

from modelrunner.core.chat import ChatRequest
from modelrunner.engines.openai_wire import chat_body

MESSAGES = [{"role": "user", "content": "hi"}]


def body(**fields) -> dict:  # noqa: ANN003
    return chat_body(ChatRequest(model="m", messages=MESSAGES, **fields))


def test_disabled_thinking_is_the_template_switch_and_nothing_llama_cpp_ignores() -> None:
    disabled = body(reasoning=False, reasoning_budget_tokens=0)
    assert disabled["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_budget" not in disabled and "thinking_budget_tokens" not in disabled


def test_a_thinking_budget_is_forwarded_per_request() -> None:
    assert body(reasoning=True, reasoning_budget_tokens=2048)["thinking_budget_tokens"] == 2048
    for fields in ({"reasoning": True}, {"reasoning": True, "reasoning_budget_tokens": 0}, {"reasoning_budget_tokens": 99}):
        sent = body(**fields)
        assert "thinking_budget_tokens" not in sent and "chat_template_kwargs" not in sent
