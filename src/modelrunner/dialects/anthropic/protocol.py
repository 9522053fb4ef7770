"""The Anthropic Messages request bodies modelrunner reads.

Lenient on purpose: unknown top-level fields are kept and ignored, and content blocks stay plain dicts
so that block types this runner does not know are dropped by normalisation instead of refused here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelrunner.core.limits import TOKEN_COUNT_MAX

Block = dict[str, Any]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class InputMessage(_Lenient):
    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


class CountTokensBody(_Lenient):
    """`POST /v1/messages/count_tokens`: a Messages body without `max_tokens`."""

    model: str = Field(min_length=1)
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[Block] | None = None
    tools: list[Block] | None = None
    tool_choice: Block | None = None
    thinking: Block | None = None
    output_config: Block | None = None
    output_format: Block | None = None


class MessagesBody(CountTokensBody):
    """`POST /v1/messages`."""

    max_tokens: int = Field(ge=1, le=TOKEN_COUNT_MAX)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=TOKEN_COUNT_MAX)
