"""Normalisation rules of the spec, one fixture conversation each."""

from __future__ import annotations

import pytest

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.dialects.anthropic.normalize import normalize_conversation
from modelrunner.dialects.anthropic.protocol import InputMessage


def conversation(*messages: dict, system: object = None, images: bool = False):
    return normalize_conversation(system, [InputMessage.model_validate(m) for m in messages], accepts_images=images)


def test_string_content_is_one_text_block_and_blank_blocks_are_dropped() -> None:
    result = conversation({"role": "user", "content": [{"type": "text", "text": "  "},
                                                       {"type": "text", "text": "hi"}]},
                          {"role": "assistant", "content": "yo"})
    assert [t.blocks for t in result.turns] == [[{"type": "text", "text": "hi"}], [{"type": "text", "text": "yo"}]]


def test_consecutive_turns_of_one_role_merge() -> None:
    result = conversation({"role": "user", "content": "a"}, {"role": "user", "content": "b"})
    assert len(result.turns) == 1 and [b["text"] for b in result.turns[0].blocks] == ["a", "b"]


def test_leading_system_message_joins_the_system_prompt_and_a_late_one_becomes_user_text() -> None:
    result = conversation({"role": "system", "content": "early"}, {"role": "user", "content": "q"},
                          {"role": "assistant", "content": "a"}, {"role": "system", "content": "late"},
                          {"role": "user", "content": "q2"}, system="base")
    assert result.system == ["base", "early"]
    assert [t.role for t in result.turns] == ["user", "assistant", "user"]
    assert [b["text"] for b in result.turns[2].blocks] == ["late", "q2"]


def test_billing_header_block_is_dropped_from_the_system_prompt() -> None:
    result = conversation({"role": "user", "content": "q"}, system=[
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.1; cch=abc123"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
    ])
    assert result.system == ["You are Claude Code."]


def test_thinking_and_unknown_blocks_are_dropped_and_the_final_assistant_turn_is_a_prefill() -> None:
    result = conversation(
        {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "server_tool_use", "id": "x"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "anything"},
                                          {"type": "redacted_thinking", "data": "zz"},
                                          {"type": "text", "text": "The answer is"}]},
    )
    assert result.turns[0].blocks == [{"type": "text", "text": "q"}]
    assert result.turns[1].blocks == [{"type": "text", "text": "The answer is"}]
    assert result.is_prefill


def test_text_documents_are_inlined() -> None:
    result = conversation({"role": "user", "content": [
        {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain", "data": "body"}},
        {"type": "text", "text": "summarise"}]})
    assert [b["text"] for b in result.turns[0].blocks] == ["Document: Notes", "body", "summarise"]


@pytest.mark.parametrize("source", [
    {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
    {"type": "url", "url": "https://example.com/a.pdf"},
])
def test_pdf_and_url_documents_are_refused_clearly(source: dict) -> None:
    with pytest.raises(Unsupported, match="PDF"):
        conversation({"role": "user", "content": [{"type": "document", "source": source}]})


def test_images_need_a_vision_projector() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
    with pytest.raises(Unsupported, match="vision"):
        conversation({"role": "user", "content": [image]})
    assert conversation({"role": "user", "content": [image]}, images=True).turns[0].blocks == [image]


def test_tool_results_keep_is_error_and_text_content() -> None:
    result = conversation({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [{"type": "text", "text": "boom"}]}]})
    block = result.turns[0].blocks[0]
    assert block["is_error"] is True and block["content"] == [{"type": "text", "text": "boom"}]


def test_a_tool_result_without_its_id_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest, match="tool_use_id"):
        conversation({"role": "user", "content": [{"type": "tool_result", "content": "x"}]})
