"""The internal request every dialect translates into, and the chunks every engine streams back.

The request keeps OpenAI chat-completions shapes for messages and tools (the lingua franca of engines);
the chunks are small slotted records so the per-token path allocates one object per event and nothing
else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Message = dict[str, Any]
FinishReason = Literal["stop", "length", "tool_calls", "context_window"]


@dataclass(slots=True)
class Sampling:
    """Decoding controls shared by chat and plain completions; None means the model's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCallConstraint:
    """Tool calls the model writes as text (`open` JSON `close`), for a template that cannot render
    tools. Text is free until the model writes `open`; from there decoding is constrained so that
    each call is one instance of `call_schema`, and after a call only another call or the end may
    follow. `max_calls` None is unlimited. `opened`: the prompt (a prefill) already ends with `open`,
    so the answer starts inside a call."""

    open: str
    close: str
    call_schema: dict[str, Any]
    max_calls: int | None = None
    opened: bool = False


@dataclass(slots=True)
class ChatRequest:
    """One chat generation, as an engine sees it.

    `model` is the name the client used (answers echo it); the scheduler resolves it separately.
    `messages` and `tools` are OpenAI chat-completions shapes. `response_format` is OpenAI's
    (`json_object` / `json_schema`), enforced by the engine with constrained decoding.
    `tool_call_constraint` only comes without `tools` (the calls are text, not engine tool calls).
    """

    model: str
    messages: list[Message]
    sampling: Sampling = field(default_factory=Sampling)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    tool_call_constraint: ToolCallConstraint | None = None
    reasoning: bool | None = None
    reasoning_budget_tokens: int | None = None
    continue_final_message: bool = False
    keep_alive: str | None = None


def image_parts(chat: ChatRequest) -> list[dict[str, Any]]:
    """The image parts of a chat's messages (OpenAI's `image_url` content parts), in order."""
    return [part for message in chat.messages if isinstance(message.get("content"), list)
            for part in message["content"] if isinstance(part, dict) and part.get("type") == "image_url"]


def image_url_of(part: dict[str, Any]) -> str:
    """An image part's URL (`data:` or http(s)), given as `{"url": ...}` or, by some clients, bare."""
    image = part.get("image_url")
    return str((image.get("url") if isinstance(image, dict) else image) or "")


@dataclass(slots=True)
class CompletionRequest:
    """A plain text completion of a raw prompt (OpenAI `/v1/completions`, Ollama `raw`)."""

    model: str
    prompt: str
    sampling: Sampling = field(default_factory=Sampling)
    keep_alive: str | None = None


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of one tool call. The first delta of a call carries `id` and `name`; `arguments`
    pieces concatenate to the call's JSON arguments."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0

    @property
    def uncached_prompt_tokens(self) -> int:
        return max(self.prompt_tokens - self.cached_prompt_tokens, 0)


@dataclass(slots=True)
class Finish:
    """The end of a generation: why it stopped, and which stop sequence matched if one did."""

    reason: FinishReason
    stop_sequence: str | None = None


EngineChunk = TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finish
