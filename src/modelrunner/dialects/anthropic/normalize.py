"""The conversation as Anthropic clients send it -> a clean, deterministic one a chat template can render.

Rules (from the spec): string content is one text block and blank text blocks are dropped; a system
message before any turn joins the system prompt, one in the middle becomes user text (templates reject
late system messages, and hoisting it would change the prompt prefix every time); consecutive turns of
one role merge; Claude Code's per-request billing header is dropped so prefix caching keeps working;
earlier thinking is dropped; text documents are inlined; block types this runner does not know are
ignored. What cannot be honoured (PDFs, URL documents, images without a vision projector) is refused
with a message that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.dialects.anthropic.protocol import Block, InputMessage

BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
_KEPT_BLOCKS = frozenset({"text", "image", "tool_use", "tool_result"})


@dataclass
class Turn:
    role: Literal["user", "assistant"]
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Conversation:
    system: list[str]
    turns: list[Turn]

    @property
    def is_prefill(self) -> bool:
        """A final assistant turn is a prefill: the answer continues it."""
        return bool(self.turns) and self.turns[-1].role == "assistant"


def text_block(text: str) -> Block:
    return {"type": "text", "text": text}


def _is_blank(block: Block) -> bool:
    return block.get("type") == "text" and not str(block.get("text") or "").strip()


def system_texts(system: str | list[Block] | None) -> list[str]:
    if system is None:
        return []
    blocks = [text_block(system)] if isinstance(system, str) else system
    texts = []
    for position, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text":
            continue
        text = block.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"system.{position}.text: Field required", param=f"system.{position}.text")
        if text.strip() and not text.startswith(BILLING_HEADER_PREFIX):
            texts.append(text)
    return texts


def _source(block: Block, where: str) -> dict[str, Any]:
    """A block's `source`, which must be an object: anything else is the caller's mistake, named."""
    source = block.get("source") or {}
    if not isinstance(source, dict):
        raise InvalidRequest(f"{where}.source: expected an object, got {type(source).__name__}",
                             param=f"{where}.source")
    return source


def _text_of(block: Block, where: str) -> Block:
    if not isinstance(block.get("text"), str):
        raise InvalidRequest(f"{where}.text: expected a string", param=f"{where}.text")
    return block


def _document_blocks(block: Block, where: str) -> list[Block]:
    source = _source(block, where)
    kind = source.get("type")
    title = block.get("title")
    heading = [text_block(f"Document: {title}")] if isinstance(title, str) and title.strip() else []
    if kind == "text":
        return [*heading, text_block(str(source.get("data") or ""))]
    if kind == "content":
        content = source.get("content")
        inner = [text_block(content)] if isinstance(content, str) else content or []
        if not isinstance(inner, list):
            raise InvalidRequest(f"{where}.source.content: expected a string or a list of blocks",
                                 param=f"{where}.source.content")
        return [*heading, *(_text_of(b, f"{where}.source.content.{i}") for i, b in enumerate(inner)
                            if isinstance(b, dict) and b.get("type") == "text")]
    if source.get("media_type") == "application/pdf" or kind in ("base64", "url", "file"):
        raise Unsupported(f"{where}: PDF, URL and file documents are not supported by this runner; "
                          "send the document's text as a text block or a document with a text source",
                          param=where)
    raise Unsupported(f"{where}: document source type {kind!r} is not supported", param=where)


def _check_image(block: Block, where: str, accepts_images: bool) -> Block:
    if not accepts_images:
        raise Unsupported(f"{where}: this model has no vision projector, so image input is not supported; "
                          "use a vision model or send text only", param=where)
    source = _source(block, where)
    if source.get("type") not in ("base64", "url"):
        raise Unsupported(f"{where}: image source type {source.get('type')!r} is not supported "
                          "(use base64 or url)", param=where)
    return block


def _tool_result(block: Block, where: str, accepts_images: bool) -> Block:
    content = block.get("content")
    if content is None:
        inner: list[Block] = []
    elif isinstance(content, str):
        inner = [text_block(content)]
    elif isinstance(content, list):
        inner = [b for b in content if isinstance(b, dict)]
    else:
        raise InvalidRequest(f"{where}.content: expected a string or a list of blocks", param=f"{where}.content")
    kept = []
    for position, part in enumerate(inner):
        kind = part.get("type")
        if kind == "text" and not _is_blank(_text_of(part, f"{where}.content.{position}")):
            kept.append(part)
        elif kind == "image":
            kept.append(_check_image(part, f"{where}.content.{position}", accepts_images))
        elif kind == "document":
            kept.extend(_document_blocks(part, f"{where}.content.{position}"))
    if not isinstance(block.get("tool_use_id"), str):
        raise InvalidRequest(f"{where}.tool_use_id: Field required", param=f"{where}.tool_use_id")
    return {"type": "tool_result", "tool_use_id": block["tool_use_id"], "content": kept,
            "is_error": bool(block.get("is_error"))}


def content_blocks(content: str | list[Block], where: str, *, accepts_images: bool) -> list[Block]:
    """One message's content -> the blocks worth rendering, in order."""
    raw = [text_block(content)] if isinstance(content, str) else content
    blocks: list[Block] = []
    for position, block in enumerate(raw):
        at = f"{where}.content.{position}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind is not None and not isinstance(kind, str):
            raise InvalidRequest(f"{at}.type: expected a string", param=f"{at}.type")
        if kind == "document":
            blocks.extend(_document_blocks(block, at))
        elif kind not in _KEPT_BLOCKS or _is_blank(block):
            continue
        elif kind == "text":
            blocks.append(_text_of(block, at))
        elif kind == "image":
            blocks.append(_check_image(block, at, accepts_images))
        elif kind == "tool_result":
            blocks.append(_tool_result(block, at, accepts_images))
        elif kind == "tool_use":
            if not isinstance(block.get("name"), str):
                raise InvalidRequest(f"{at}.name: Field required", param=f"{at}.name")
            blocks.append(block)
    return blocks


def normalize_conversation(
    system: str | list[Block] | None, messages: list[InputMessage], *, accepts_images: bool
) -> Conversation:
    system_prompt = system_texts(system)
    turns: list[Turn] = []
    for position, message in enumerate(messages):
        where = f"messages.{position}"
        if message.role == "system":
            texts = system_texts(message.content)
            if not turns:
                system_prompt.extend(texts)
                continue
            role: Literal["user", "assistant"] = "user"
            blocks = [text_block(text) for text in texts]
        else:
            role = message.role
            blocks = content_blocks(message.content, where, accepts_images=accepts_images)
        if not blocks:
            continue
        if turns and turns[-1].role == role:
            turns[-1].blocks.extend(blocks)
        else:
            turns.append(Turn(role, blocks))
    return Conversation(system=system_prompt, turns=turns)


def as_json_object(value: Any) -> dict[str, Any]:
    """tool_use.input is always an object; anything else becomes an empty one."""
    return value if isinstance(value, dict) else {}
