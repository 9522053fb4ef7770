"""The Anthropic streaming grammar, asserted: every streaming test runs its events through here.

What the SDKs rely on (spec, "Streaming"): `message_start` first with an empty shell; content blocks
with contiguous indices from 0 and one open at a time; deltas of the open block's kind; thinking
closed by one non-empty `signature_delta`; tool_use started with `"input": {}` and `partial_json`
pieces that join to one JSON object; one `message_delta` after the last block; `message_stop` last;
or an `error` event that ends the stream. `ping` may come anywhere after `message_start`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                "model_context_window_exceeded"}
_DELTAS = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"},
           "tool_use": {"input_json_delta"}}


@dataclass
class CheckedStream:
    """What the stream said, rebuilt: the blocks, the stop, the usage, or the error."""

    message: dict[str, Any] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    pings: int = 0

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.blocks if b["type"] == "text")

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["type"] == "tool_use"]


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """`event: NAME\\ndata: JSON\\n\\n` frames -> (NAME, data); a frame without `event:` fails."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        assert "event" in lines, f"frame without an event line: {frame!r}"
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def check_stream(events: list[tuple[str, dict[str, Any]]]) -> CheckedStream:
    result = CheckedStream()
    assert events, "empty stream"
    open_index: int | None = None
    signature_seen = False
    json_parts: list[str] = []
    state = "start"
    for position, (name, data) in enumerate(events):
        assert data.get("type") == name, f"event {position}: type {data.get('type')!r} != event {name!r}"
        assert state != "done", f"event {position} ({name}) after the stream ended"
        if name == "ping":
            assert state != "start", "ping before message_start"
            result.pings += 1
            continue
        if name == "error":
            assert data["error"]["type"] and data["error"]["message"], data
            result.error = data["error"]
            state = "done"
            continue
        if state == "start":
            assert name == "message_start", f"first event is {name}"
            message = data["message"]
            assert message["content"] == [] and message["stop_reason"] is None and message["stop_sequence"] is None
            assert message["type"] == "message" and message["role"] == "assistant" and message["id"]
            assert isinstance(message["usage"], dict)
            result.message = message
            state = "blocks"
        elif name == "content_block_start":
            assert state == "blocks" and open_index is None, f"block started while {open_index} is open"
            assert data["index"] == len(result.blocks), f"block index {data['index']}, expected {len(result.blocks)}"
            block = dict(data["content_block"])
            assert block["type"] in _DELTAS, block
            if block["type"] == "tool_use":
                assert block["input"] == {} and TOOL_ID.match(block["id"]) and block["name"], block
            if block["type"] == "thinking":
                assert block["thinking"] == "" and block["signature"] == ""
            if block["type"] == "text":
                assert block["text"] == ""
            result.blocks.append(block)
            open_index, signature_seen, json_parts = data["index"], False, []
        elif name == "content_block_delta":
            assert open_index is not None and data["index"] == open_index, f"delta for {data['index']}, open {open_index}"
            block = result.blocks[open_index]
            delta = data["delta"]
            assert delta["type"] in _DELTAS[block["type"]], f"{delta['type']} in a {block['type']} block"
            assert not signature_seen, "delta after the signature"
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                assert delta["signature"], "empty signature"
                block["signature"], signature_seen = delta["signature"], True
            else:
                json_parts.append(delta["partial_json"])
        elif name == "content_block_stop":
            assert open_index is not None and data["index"] == open_index, "stop of a block that is not open"
            block = result.blocks[open_index]
            if block["type"] == "thinking":
                assert signature_seen, "thinking block closed without a signature_delta"
            if block["type"] == "tool_use":
                joined = "".join(json_parts)
                block["input"] = json.loads(joined) if joined else {}
                assert isinstance(block["input"], dict), f"tool input is not an object: {joined!r}"
            open_index = None
        elif name == "message_delta":
            assert state == "blocks" and open_index is None, "message_delta with a block open"
            assert data["delta"]["stop_reason"] in STOP_REASONS, data
            assert isinstance(data["usage"]["output_tokens"], int)
            result.stop_reason = data["delta"]["stop_reason"]
            result.stop_sequence = data["delta"]["stop_sequence"]
            result.usage = data["usage"]
            state = "delta"
        elif name == "message_stop":
            assert state == "delta", "message_stop without message_delta"
            state = "done"
        else:
            raise AssertionError(f"unknown event {name}")
    assert state == "done", f"stream ended in state {state}"
    if result.stop_reason == "tool_use":
        assert result.tool_uses, "stop_reason tool_use without a tool_use block"
    return result


def check_sdk_events(events: list[Any]) -> CheckedStream:
    """The same check on the Python SDK's typed events."""
    raw = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
           "message_delta", "message_stop", "ping", "error"}
    dumped = [event.model_dump(exclude_none=False) for event in events if event.type in raw]
    return check_stream([(data["type"], data) for data in dumped])
