"""The HTTP/1.1 framing both lean engine clients share: chunked bodies come off whatever the reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrunner.engines.http1 import ChunkedBody
from tests.support.http_wire import chunked_wire


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.binary(max_size=40), max_size=8), cuts=st.lists(st.integers(0, 400), max_size=6),
       extension=st.booleans(), trailer=st.booleans())
def test_chunked_framing_comes_off_whatever_the_reads(pieces: list[bytes], cuts: list[int], extension: bool,
                                                       trailer: bool) -> None:
    wire = chunked_wire(pieces, extension, trailer)
    points = sorted({min(cut, len(wire)) for cut in cuts} | {0, len(wire)})
    body = ChunkedBody()
    out = b"".join(body.feed(wire[start:end]) for start, end in zip(points, points[1:]))
    assert out == b"".join(pieces)
    assert body.is_complete


def test_bad_chunk_framing_is_an_error() -> None:
    with pytest.raises(ValueError):
        ChunkedBody().feed(b"zz\r\nabc\r\n")
    with pytest.raises(ValueError):
        ChunkedBody().feed(b"3\r\nabcXX\r\n")
