"""A whole answer gathered from engine chunks, for clients that did not ask to stream."""

from __future__ import annotations

from collections.abc import Iterable
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
    def gathered(cls, chunks: Iterable[EngineChunk]) -> CompletedAnswer:
        gatherer = AnswerGatherer()
        for chunk in chunks:
            gatherer.add(chunk)
        return gatherer.answer()


class AnswerGatherer:
    """A whole answer, gathered from its chunks one at a time."""

    __slots__ = ("_text", "_reasoning", "_calls", "_usage", "_finish")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, ToolCall] = {}
        self._usage: Usage | None = None
        self._finish: Finish | None = None

    def add(self, chunk: EngineChunk) -> None:
        kind = type(chunk)
        if kind is TextDelta:
            self._text.append(chunk.text)  # type: ignore[union-attr]
        elif kind is ReasoningDelta:
            self._reasoning.append(chunk.text)  # type: ignore[union-attr]
        elif kind is ToolCallDelta:
            self._add_call(chunk)  # type: ignore[arg-type]
        elif kind is Usage:
            self._usage = chunk  # type: ignore[assignment]
        elif kind is Finish:
            self._finish = chunk  # type: ignore[assignment]

    def _add_call(self, chunk: ToolCallDelta) -> None:
        call = self._calls.get(chunk.index)
        if call is None:
            self._calls[chunk.index] = ToolCall(chunk.id, chunk.name or "", chunk.arguments)
        else:
            call.arguments += chunk.arguments
            call.id = call.id or chunk.id
            call.name = call.name or (chunk.name or "")

    def answer(self) -> CompletedAnswer:
        answer = CompletedAnswer(text="".join(self._text), reasoning="".join(self._reasoning),
                                 tool_calls=[self._calls[i] for i in sorted(self._calls)])
        if self._usage is not None:
            answer.usage = self._usage
        if self._finish is not None:
            answer.finish = self._finish
        return answer
