"""Tool calls out of text: the `<tool_call>` extractor and the constrained-JSON decoder."""

from __future__ import annotations

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.generation.tool_calls import ConstrainedCall, PromptedCallExtractor, PromptedCalls


def run(chunks: list[EngineChunk], decoder: ConstrainedCall | PromptedCalls) -> list[EngineChunk]:
    return [out for chunk in chunks for out in decoder.feed(chunk)]


def feed_all(pieces: list[str], max_calls: int | None = None) -> list[EngineChunk]:
    extractor = PromptedCallExtractor(max_calls)
    out: list[EngineChunk] = []
    for piece in pieces:
        out += extractor.feed(piece)
    return out + extractor.finish()


def text_of(chunks: list[EngineChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_a_call_split_across_pieces_is_found_and_no_markup_leaks() -> None:
    out = feed_all(["Sure.\n<to", "ol_ca", 'll>{"name": "get_weather", "in', 'put": {"city": "Paris"}}</tool', "_call>"])
    assert text_of(out) == "Sure.\n"
    calls = [c for c in out if isinstance(c, ToolCallDelta)]
    assert [(c.index, c.name, c.arguments) for c in calls] == [(0, "get_weather", '{"city":"Paris"}')]


def test_leading_whitespace_before_a_call_makes_no_text_block() -> None:
    out = feed_all(["\n\n", '<tool_call>{"name": "a", "input": {}}</tool_call>'])
    assert text_of(out) == "" and len(out) == 1


def test_text_that_only_looks_like_a_call_start_is_released() -> None:
    assert text_of(feed_all(["a <to", "y> b"])) == "a <toy> b"


def test_unparseable_call_stays_text_and_an_unclosed_one_counts_at_the_end() -> None:
    assert text_of(feed_all(["<tool_call>not json</tool_call>"])) == "<tool_call>not json</tool_call>"
    out = feed_all(['<tool_call>{"name": "a", "arguments": {"x": 1}}'])
    assert [(c.name, c.arguments) for c in out if isinstance(c, ToolCallDelta)] == [("a", '{"x":1}')]


def test_at_most_max_calls_and_no_text_after_a_call() -> None:
    call = '<tool_call>{"name": "a", "input": {}}</tool_call>'
    out = feed_all([call, " then ", call], max_calls=1)
    assert len([c for c in out if isinstance(c, ToolCallDelta)]) == 1 and text_of(out) == ""
    assert len([c for c in feed_all([call, "\n", call]) if isinstance(c, ToolCallDelta)]) == 2


def test_prompted_calls_turn_a_plain_stop_into_tool_calls() -> None:
    out = run([TextDelta('<tool_call>{"name": "a", "input": {}}'), TextDelta("</tool_call>"), Usage(1, 2),
               Finish("stop")], PromptedCalls(None))
    assert isinstance(out[0], ToolCallDelta) and out[-1] == Finish("tool_calls") and isinstance(out[-2], Usage)


def test_a_complete_call_then_rambling_until_max_tokens_is_a_tool_use_answer() -> None:
    out = run([TextDelta('<tool_call>{"name": "a", "input": {}}</tool_call>'), TextDelta(" and then I will"),
               Usage(1, 50), Finish("length")], PromptedCalls(None))
    assert [type(c) for c in out] == [ToolCallDelta, Usage, Finish] and out[-1] == Finish("tool_calls")
    cut_in_call = run([TextDelta('<tool_call>{"name": "a", "inp'), Usage(1, 50), Finish("length")],
                      PromptedCalls(None))
    assert cut_in_call[-1] == Finish("length") and not any(isinstance(c, ToolCallDelta) for c in cut_in_call)


def test_constrained_answer_becomes_one_call_and_a_cut_one_stays_text() -> None:
    out = run([ReasoningDelta("r"), TextDelta('{ "name" : "add",\n "input": {"a": 1'), TextDelta("}}"),
               Usage(1, 9), Finish("stop")], ConstrainedCall())
    assert out[0] == ReasoningDelta("r")
    assert out[1] == ToolCallDelta(0, None, "add", '{"a":1}') and out[-1] == Finish("tool_calls")
    cut = run([TextDelta('{"name": "add", "inp'), Usage(1, 5), Finish("length")], ConstrainedCall())
    assert cut == [TextDelta('{"name": "add", "inp'), Usage(1, 5), Finish("length")]


def test_a_call_opened_by_the_prefill_is_continued_and_its_markup_never_sent_back() -> None:
    def feed_opened(open_call: str, pieces: list[str]) -> list[EngineChunk]:
        extractor = PromptedCallExtractor(None, open_call)
        return [out for piece in pieces for out in extractor.feed(piece)] + extractor.finish()

    out = feed_opened("", ['{"name": "a", "in', 'put": {"x": 1}}</tool_call>'])
    assert out == [ToolCallDelta(0, None, "a", '{"x":1}')]
    assert feed_opened('{"name": "a", ', ['"input": {}}</tool_call>']) == [ToolCallDelta(0, None, "a", "{}")]
    assert text_of(feed_opened('{"na', ["x!</tool_call> then"])) == "x!</tool_call> then"
    assert text_of(feed_opened("", ["not json"])) == "not json"
