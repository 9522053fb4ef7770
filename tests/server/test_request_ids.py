"""Request ids: Anthropic's shape, never repeated, and not the same sequence in two servers."""

from __future__ import annotations

import re

from modelrunner.server.middleware import RequestIds


def test_request_ids_have_anthropics_shape_and_do_not_repeat() -> None:
    ids = RequestIds()
    drawn = [ids.new() for _ in range(10_000)]
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", request_id) for request_id in drawn)
    assert len(set(drawn)) == len(drawn)
    assert RequestIds().new() not in drawn  # another server's sequence is another one
