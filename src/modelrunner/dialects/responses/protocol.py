"""The `POST /v1/responses` body modelrunner reads. Lenient: unknown fields are accepted and ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelrunner.core.limits import TEXT_CHARS_MAX

MAX_INPUT_ITEMS = 4096
MAX_TOOLS = 512
MAX_OUTPUT_TOKENS = (1 << 31) - 1
"""The engine's own bound on tokens to write, so a larger request is refused here, under its own name."""


class ResponsesBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[Any] = ""
    """Bounded in `translate.input_items` (length of the text, number of items), with the field named."""
    instructions: str | None = Field(default=None, max_length=TEXT_CHARS_MAX)
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=MAX_OUTPUT_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    user: str | None = None
