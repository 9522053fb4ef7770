"""A worker's log as kept: whole lines in order, whatever blocks they came in, and bounded."""

from __future__ import annotations

import asyncio
import os

from modelrunner.engines.llamacpp.worker_log import LOG_LINES_KEPT, POLL_MIN_S, WorkerLog


def _fed(blocks: list[bytes], **options: int) -> WorkerLog:
    """A log fed through a real pipe, one write per block as llama.cpp writes, then closed by the writer."""
    async def scenario() -> WorkerLog:
        read_end, write_end = os.pipe()
        log = WorkerLog(read_end, "ai/tiny", **options)
        for block in blocks:
            os.write(write_end, block)
            log.read_available()
        os.close(write_end)
        await asyncio.sleep(POLL_MIN_S * 3)  # the poll sees the end of the pipe
        assert log.is_closed
        return log

    return asyncio.run(scenario())


def test_the_log_is_read_by_its_poll_and_by_whoever_reads_it() -> None:
    async def scenario() -> None:
        read_end, write_end = os.pipe()
        log = WorkerLog(read_end, "ai/tiny")
        os.write(write_end, b"polled\n")
        await asyncio.sleep(POLL_MIN_S * 3)
        assert log.lines == ["polled"]
        os.write(write_end, b"read at once\n")
        assert log.lines == ["polled", "read at once"]
        log.close()
        os.close(write_end)
        assert log.is_closed and log.lines == ["polled", "read at once"]

    asyncio.run(scenario())


def test_lines_are_whole_whatever_blocks_they_arrived_in() -> None:
    log = _fed([b"main: loading mo", b"del\r\nslot launch: id 0\nsrv  done\n", b"unfinished"])
    assert log.lines == ["main: loading model", "slot launch: id 0", "srv  done", "unfinished"]


def test_the_log_keeps_its_last_lines_within_its_bytes() -> None:
    lines = [f"line {n:05d} " + "x" * 40 for n in range(2000)]
    log = _fed([("\n".join(lines[n:n + 7]) + "\n").encode() for n in range(0, 2000, 7)], max_bytes=8 * 1024)
    kept = log.lines
    assert kept and kept == lines[-len(kept):] and len(kept) <= LOG_LINES_KEPT
    assert sum(len(line) + 1 for line in kept) <= 8 * 1024
    one_huge_block = _fed([b"start\n" + b"y" * 20_000 + b"\nlast line\n"], max_bytes=1024)
    assert one_huge_block.lines == ["last line"]
