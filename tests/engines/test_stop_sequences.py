from modelrunner.engines.stop_sequences import StopSequenceMatcher


def run(stops: list[str], pieces: list[str]) -> tuple[str, str | None]:
    matcher = StopSequenceMatcher(stops)
    emitted = []
    for piece in pieces:
        text, matched = matcher.feed(piece)
        emitted.append(text)
        if matched is not None:
            return "".join(emitted), matched
    emitted.append(matcher.flush())
    return "".join(emitted), None


def test_a_stop_split_across_pieces_is_matched_and_withheld() -> None:
    assert run(["END"], ["hello E", "N", "D and more"]) == ("hello ", "END")


def test_the_earliest_match_wins() -> None:
    assert run(["b", "abc"], ["xabc"]) == ("x", "abc")
    assert run(["c", "ab"], ["xabc"]) == ("x", "ab")


def test_a_false_start_is_released() -> None:
    assert run(["END"], ["an E", "ND", ""]) == ("an ", "END")
    assert run(["END"], ["an E", "x"]) == ("an Ex", None)


def test_text_held_at_the_end_is_flushed() -> None:
    assert run(["STOP"], ["one ST"]) == ("one ST", None)


def test_no_stops_passes_everything_through() -> None:
    matcher = StopSequenceMatcher([])
    assert not matcher.is_active
    assert run([], ["a", "b"]) == ("ab", None)
