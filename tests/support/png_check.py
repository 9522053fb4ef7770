"""Whether a PNG screenshot shows something: without an imaging library, from its filtered scanlines.

PNG stores each row filtered (a difference from the pixel to the left or above), so a uniform picture
filters to (almost) all zero bytes, while a page with text and colour leaves many non-zero ones."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def filtered_scanlines(png: bytes) -> bytes:
    assert png.startswith(PNG_SIGNATURE), "not a PNG"
    offset, data = len(PNG_SIGNATURE), []
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        if kind == b"IDAT":
            data.append(png[offset + 8:offset + 8 + length])
        offset += 12 + length
    return zlib.decompress(b"".join(data))


def nonzero_fraction(png: bytes) -> float:
    """The share of non-zero filtered bytes: about 0 for a blank picture."""
    scanlines = filtered_scanlines(png)
    return 1 - scanlines.count(0) / len(scanlines)
