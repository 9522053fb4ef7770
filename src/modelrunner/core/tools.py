"""Tools as every API offers them, once a dialect has read its own wire shapes: what each tool is,
which calls the client allows, and a chat request waiting to learn how its tools reach the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelrunner.core.chat import ChatRequest
from modelrunner.core.errors import InvalidRequest


@dataclass(frozen=True)
class ToolSpec:
    """`strict`: every call's arguments must validate against `input_schema`."""

    name: str
    description: str
    input_schema: dict[str, Any]
    strict: bool = False


ToolChoiceKind = Literal["auto", "required", "named", "none"]


@dataclass(frozen=True)
class ToolChoice:
    """`required`: some tool must be called; `named`: the tool `name` must be; `none`: no call at all.
    `allow_parallel` False: at most one call per answer."""

    kind: ToolChoiceKind = "auto"
    name: str | None = None
    allow_parallel: bool = True

    @property
    def requires_call(self) -> bool:
        return self.kind in ("required", "named")


@dataclass
class ToolingRequest:
    """A chat request as a dialect hands it to generation. Its messages are in the engine's native
    shapes (assistant `tool_calls` with JSON-string arguments, `tool` messages with `tool_call_id`;
    a tool message may carry `is_error`); `chat.tools` is left empty: generation decides, from the
    runner's capabilities, whether the tools and calls are rendered by the template or by us."""

    chat: ChatRequest
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    plans: dict[tuple[bool, bool], Any] = field(default_factory=dict, repr=False, compare=False)
    """Generation's plans for this request, by whether the template renders tools (and several calls
    in one turn): made once each,
    however many times the request is counted and generated."""


def require_unique_names(specs: list[ToolSpec], noun: str) -> list[ToolSpec]:
    """`specs` as given, or an InvalidRequest naming the first repeated name (`noun`: the API's word)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InvalidRequest(f"tools: {noun} names must be unique, {spec.name!r} is repeated", param="tools")
        seen.add(spec.name)
    return specs
