"""ChatRequest -> the engine's request body: reasoning controls and the grammar of strict tool calls."""

from __future__ import annotations

from modelrunner.core.chat import ChatRequest, ToolCallConstraint
from modelrunner.engines.openai_wire import chat_body, tool_call_grammar

MESSAGES = [{"role": "user", "content": "hi"}]
CALL = {"type": "object", "properties": {"name": {"const": "add"}, "input": {"type": "object"}}}
ANSWER = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def body(**fields) -> dict:  # noqa: ANN003
    return chat_body(ChatRequest(model="m", messages=MESSAGES, **fields))


def test_disabled_thinking_is_the_template_switch_and_nothing_llama_cpp_ignores() -> None:
    disabled = body(reasoning=False, reasoning_budget_tokens=0)
    assert disabled["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_budget" not in disabled and "thinking_budget_tokens" not in disabled


def test_disabled_thinking_with_a_budget_also_bounds_templates_that_open_thinking_themselves() -> None:
    sent = body(reasoning=False, reasoning_budget_tokens=1)
    assert sent["chat_template_kwargs"] == {"enable_thinking": False} and sent["thinking_budget_tokens"] == 1


def test_a_thinking_budget_is_forwarded_per_request() -> None:
    assert body(reasoning=True, reasoning_budget_tokens=2048)["thinking_budget_tokens"] == 2048
    for fields in ({"reasoning": True}, {"reasoning": True, "reasoning_budget_tokens": 0}, {"reasoning_budget_tokens": 99}):
        sent = body(**fields)
        assert "thinking_budget_tokens" not in sent and "chat_template_kwargs" not in sent


def test_a_tool_call_constraint_becomes_a_grammar_that_leaves_text_free_until_the_marker() -> None:
    constraint = ToolCallConstraint(open="<tool_call>", close="</tool_call>", call_schema=CALL)
    sent = body(tool_call_constraint=constraint)
    grammar = sent["grammar"]
    assert "response_format" not in sent and grammar.startswith("%llguidance {}\n")
    assert 'start: TEXT | head call more*\nhead[lazy]: TEXT "<tool_call>"\n' in grammar
    assert '"whitespace_flexible":false' in grammar and '"lenient":true' in grammar
    assert grammar.rstrip().endswith('more: "\\n"? "<tool_call>" call')
    assert "start: call more{0,2}\n" in tool_call_grammar(
        ToolCallConstraint(open="<tool_call>", close="</tool_call>", call_schema=CALL, max_calls=3, opened=True))
    single = tool_call_grammar(ToolCallConstraint(open="<tool_call>", close="</tool_call>", call_schema=CALL, max_calls=1))
    assert "start: TEXT | head call\n" in single and "more" not in single


def test_an_answer_format_joins_the_grammar_because_llama_cpp_refuses_both() -> None:
    constraint = ToolCallConstraint(open="<tool_call>", close="</tool_call>", call_schema=CALL)
    response_format = {"type": "json_schema", "json_schema": {"name": "output", "schema": ANSWER, "strict": True}}
    sent = body(tool_call_constraint=constraint, response_format=response_format)
    assert "response_format" not in sent
    assert sent["grammar"].splitlines()[1:3] == [
        'start: answer | "<tool_call>" call more*',
        'answer: %json {"type":"object","properties":{"ok":{"type":"boolean"}},"x-guidance":'
        '{"whitespace_flexible":false,"key_separator":": ","item_separator":", ","lenient":true}}']
    assert body(response_format=response_format)["response_format"] == response_format
