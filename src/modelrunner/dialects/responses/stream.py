"""Engine chunks -> the Responses API's output items, as streamed events and as the final Response.

One encoder serves both: a stream sends its events as they come, a whole answer feeds the same
chunks with `emit` off and takes `response()` at the end, so both carry the same items."""

from __future__ import annotations

import time
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.dialects.responses.ids import new_id
from modelrunner.dialects.responses.protocol import ResponsesBody

Item = dict[str, Any]
_INCOMPLETE = ("length", "context_window")


def _echoed_tool(tool: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": tool.get("name"), "description": tool.get("description"),
            "parameters": tool.get("parameters"), "strict": bool(tool.get("strict"))}


def _usage(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage(0, 0)
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


class ResponseEncoder:
    """Builds one Response from engine chunks; with `emit`, also its event stream (SSE bytes)."""

    def __init__(self, body: ResponsesBody, *, emit: bool, response_id: str | None = None) -> None:
        self.id = response_id or new_id("resp")
        self._body = body
        self._emit = emit
        self._created_at = int(time.time())
        self._sequence = 0
        self._output: list[Item] = []
        self._open: Item | None = None
        self._calls: dict[int, Item] = {}
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._reasoning_tokens = 0

    # -- the Response object -------------------------------------------------------------------------

    def response(self) -> dict[str, Any]:
        body = self._body
        status = "in_progress"
        incomplete = None
        if self._finish is not None:
            status = "incomplete" if self._finish.reason in _INCOMPLETE else "completed"
            if status == "incomplete":
                incomplete = {"reason": "max_output_tokens"}
        return {
            "id": self.id, "object": "response", "created_at": self._created_at, "status": status,
            "completed_at": int(time.time()) if self._finish is not None else None,
            "error": None, "incomplete_details": incomplete, "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens, "model": body.model,
            "output": [dict(item) for item in self._output],
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "reasoning": body.reasoning or {"effort": None, "summary": None},
            "store": body.store, "temperature": body.temperature, "top_p": body.top_p,
            "text": body.text or {"format": {"type": "text"}},
            "tool_choice": body.tool_choice or "auto",
            "tools": [_echoed_tool(tool) for tool in body.tools or []],
            "truncation": "disabled", "metadata": body.metadata or {}, "user": body.user,
            "usage": _usage(self._usage) if self._finish is not None else None,
        }

    @property
    def output(self) -> list[Item]:
        return self._output

    # -- events --------------------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> bytes:
        if not self._emit:
            return b""
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def start(self) -> bytes:
        snapshot = self.response()
        return self._event("response.created", response=snapshot) + \
            self._event("response.in_progress", response=snapshot)

    def error(self, message: str, code: str | None) -> bytes:
        return self._event("error", code=code, message=message, param=None)

    def feed(self, chunk: EngineChunk) -> bytes:
        kind = type(chunk)
        if kind is TextDelta:
            return self._text(chunk.text)
        if kind is ReasoningDelta:
            return self._reasoning(chunk.text)
        if kind is ToolCallDelta:
            return self._tool_call(chunk)
        if kind is Usage:
            self._usage = chunk
            return b""
        if kind is Finish:
            return self._done(chunk)
        return b""

    def _add(self, item: Item) -> bytes:
        self._output.append(item)
        return self._event("response.output_item.added", output_index=len(self._output) - 1,
                           item={**item, "content": []} if "content" in item else dict(item))

    def _text(self, text: str) -> bytes:
        if not text:
            return b""
        events = b""
        if self._open is None or self._open["type"] != "message":
            events += self._close_open()
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant",
                    "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}]}
            events += self._add(item)
            self._open = item
            events += self._event("response.content_part.added", item_id=item["id"],
                                  output_index=len(self._output) - 1, content_index=0,
                                  part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        part = self._open["content"][0]
        part["text"] += text
        return events + self._event("response.output_text.delta", item_id=self._open["id"],
                                    output_index=len(self._output) - 1, content_index=0, delta=text, logprobs=[])

    def _reasoning(self, text: str) -> bytes:
        if not text:
            return b""
        events = b""
        if self._open is None or self._open["type"] != "reasoning":
            events += self._close_open()
            item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "status": "in_progress",
                    "content": [{"type": "reasoning_text", "text": ""}]}
            events += self._add(item)
            self._open = item
            events += self._event("response.content_part.added", item_id=item["id"],
                                  output_index=len(self._output) - 1, content_index=0,
                                  part={"type": "reasoning_text", "text": ""})
        self._open["content"][0]["text"] += text
        return events + self._event("response.reasoning_text.delta", item_id=self._open["id"],
                                    output_index=len(self._output) - 1, content_index=0, delta=text)

    def _tool_call(self, delta: ToolCallDelta) -> bytes:
        events = b""
        item = self._calls.get(delta.index)
        if item is None:
            events += self._close_open()
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress",
                    "call_id": delta.id or new_id("call"), "name": delta.name or "", "arguments": ""}
            self._calls[delta.index] = item
            events += self._add(item)
            item["output_index"] = len(self._output) - 1
        if delta.arguments:
            item["arguments"] += delta.arguments
            events += self._event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=item["output_index"], delta=delta.arguments)
        return events

    def _close_open(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        index = self._output.index(item)
        item["status"] = "completed"
        part = item["content"][0]
        if item["type"] == "message":
            events = self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                 content_index=0, text=part["text"], logprobs=[])
        else:
            events = self._event("response.reasoning_text.done", item_id=item["id"], output_index=index,
                                 content_index=0, text=part["text"])
        events += self._event("response.content_part.done", item_id=item["id"], output_index=index,
                              content_index=0, part=part)
        return events + self._event("response.output_item.done", output_index=index, item=item)

    def _done(self, finish: Finish) -> bytes:
        events = self._close_open()
        for item in self._calls.values():
            index = item.pop("output_index")
            item["arguments"] = item["arguments"] or "{}"
            item["status"] = "completed"
            events += self._event("response.function_call_arguments.done", item_id=item["id"],
                                  output_index=index, arguments=item["arguments"], name=item["name"])
            events += self._event("response.output_item.done", output_index=index, item=item)
        self._finish = finish
        final = self.response()
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return events + self._event(kind, response=final)
