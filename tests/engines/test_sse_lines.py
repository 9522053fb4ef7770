import asyncio

from modelrunner.engines.sse_lines import iter_lines


async def _collect(pieces: list[bytes]) -> list[bytes]:
    async def source():
        for piece in pieces:
            yield piece

    return [line async for line in iter_lines(source())]


def test_lines_split_across_chunks_are_joined() -> None:
    pieces = [b'data: {"a"', b': 1}\n\ndata: [DO', b"NE]\r\n\r\n", b"tail"]
    assert asyncio.run(_collect(pieces)) == [b'data: {"a": 1}', b"data: [DONE]", b"tail"]
