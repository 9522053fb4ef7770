"""A whole answer gathered from engine chunks, for clients that did not ask to stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage


@dataclass
class ToolCall:
    id: str | None
    name: str
    arguments: str


@dataclass
class CompletedAnswer:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    finish: Finish = field(default_factory=lambda: Finish("stop"))

    @classmethod
    async def collect(cls, chunks: AsyncIterator[EngineChunk]) -> CompletedAnswer:
        text: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, ToolCall] = {}
        answer = cls()
        async for chunk in chunks:
            kind = type(chunk)
            if kind is TextDelta:
                text.append(chunk.text)
            elif kind is ReasoningDelta:
                reasoning.append(chunk.text)
            elif kind is ToolCallDelta:
                call = calls.get(chunk.index)
                if call is None:
                    calls[chunk.index] = ToolCall(chunk.id, chunk.name or "", chunk.arguments)
                else:
                    call.arguments += chunk.arguments
                    call.id = call.id or chunk.id
                    call.name = call.name or (chunk.name or "")
            elif kind is Usage:
                answer.usage = chunk
            elif kind is Finish:
                answer.finish = chunk
        answer.text = "".join(text)
        answer.reasoning = "".join(reasoning)
        answer.tool_calls = [calls[i] for i in sorted(calls)]
        return answer
