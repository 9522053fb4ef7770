"""Bytes as an HTTP/1.1 server writes them, for tests of our clients' framing."""

from __future__ import annotations


def chunked_wire(pieces: list[bytes], extension: bool, trailer: bool) -> bytes:
    framed = b"".join(f"{len(piece):x}".encode() + (b";ext=1" if extension else b"") + b"\r\n" + piece + b"\r\n"
                      for piece in pieces if piece)
    return framed + b"0\r\n" + (b"x-trailer: 1\r\n" if trailer else b"") + b"\r\n"
