"""The Responses encoder on hand-made engine chunks: item order, event order, and the same items
whether streamed or whole."""

from __future__ import annotations

import orjson

from modelrunner.core.chat import Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.dialects.responses.protocol import ResponsesBody
from modelrunner.dialects.responses.stream import ResponseEncoder

BODY = ResponsesBody(model="m", input="hi")
CHUNKS = [ReasoningDelta("think"), ReasoningDelta("ing"), TextDelta("Hel"), TextDelta("lo"),
          ToolCallDelta(0, "call_1", "f", '{"a"'), ToolCallDelta(0, None, None, ": 1}"),
          Usage(5, 7), Finish("tool_calls")]


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in data.split(b"\n\n") if block]


def test_items_come_in_order_and_whole_equals_streamed() -> None:
    streamed = ResponseEncoder(BODY, emit=True)
    events = _events(streamed.start() + b"".join(streamed.feed(chunk) for chunk in CHUNKS))
    whole = ResponseEncoder(BODY, emit=False)
    assert all(whole.feed(chunk) == b"" for chunk in CHUNKS)
    final = whole.response()
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "thinking"
    assert final["output"][1]["content"][0]["text"] == "Hello"
    assert final["output"][2]["arguments"] == '{"a": 1}' and final["output"][2]["call_id"] == "call_1"
    assert final["status"] == "completed" and final["usage"]["total_tokens"] == 12
    completed = events[-1]
    assert completed["type"] == "response.completed"
    strip = lambda items: [{k: v for k, v in item.items() if k != "id"} for item in items]  # noqa: E731
    assert strip(completed["response"]["output"]) == strip(final["output"])
    assert [event["sequence_number"] for event in events] == list(range(len(events)))


def test_every_item_is_added_before_its_deltas_and_done_after() -> None:
    encoder = ResponseEncoder(BODY, emit=True)
    events = _events(encoder.start() + b"".join(encoder.feed(chunk) for chunk in CHUNKS))
    added: set[int] = set()
    done: set[int] = set()
    for event in events:
        index = event.get("output_index")
        if event["type"] == "response.output_item.added":
            added.add(index)
        elif event["type"] == "response.output_item.done":
            done.add(index)
        elif index is not None:
            assert index in added and index not in done, event["type"]
    assert added == done == {0, 1, 2}


def test_a_cut_answer_is_incomplete() -> None:
    encoder = ResponseEncoder(BODY, emit=True)
    events = _events(encoder.start() + encoder.feed(TextDelta("x")) + encoder.feed(Usage(1, 1))
                     + encoder.feed(Finish("length")))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
