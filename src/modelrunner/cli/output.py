"""How results are printed: tables and colour on a terminal, plain parseable text when piped."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any


def is_terminal(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def note(message: str) -> None:
    """A one-line remark for the person at the terminal, kept off stdout so pipes stay clean."""
    if is_terminal(sys.stderr):
        sys.stderr.write(f"\x1b[2m{message}\x1b[0m\n")
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on the terminal while nothing else shows progress (a model loading); nothing when piped."""
    if not is_terminal(sys.stderr):
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(cell) for cell in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, box=None, header_style="bold cyan", pad_edge=False)
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        sys.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")


def format_bytes(size_bytes: float | None) -> str:
    if size_bytes is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size_bytes) < 1000:
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.2f} {unit}"
        size_bytes /= 1000
    return f"{size_bytes:.2f} TB"


def format_age(timestamp_s: float | None, now_s: float | None = None) -> str:
    """`3 days ago`, as `docker model list` shows creation times."""
    if not timestamp_s:
        return ""
    seconds = max(0.0, (time.time() if now_s is None else now_s) - timestamp_s)
    for unit, length in (("year", 31_536_000), ("month", 2_592_000), ("week", 604_800), ("day", 86_400),
                         ("hour", 3_600), ("minute", 60)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"
