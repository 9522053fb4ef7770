"""A streaming reader of GGUF headers: key/value metadata and tensor shapes, without mapping the
file or materialising the vocabulary. Reading a 150k-token vocabulary this way takes a fraction of
a second, where a general-purpose reader builds an object per token."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
ARRAY_ITEMS_KEPT = 16

# GGUF value types -> struct format of one item (strings and arrays are handled apart).
_SCALARS: dict[int, str] = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING_BYTES = 64 * 1024 * 1024
_MAX_DIMS = 8
_MAX_ARRAY_ITEMS = 1 << 62


class GGUFFormatError(ValueError):
    """The file is not a GGUF, or its header is truncated or inconsistent."""


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    array_lengths: dict[str, int] = field(default_factory=dict)
    parameter_count: int = 0
    tensor_names: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, handle: BinaryIO, byte_order: str) -> None:
        self._handle = handle
        self._order = byte_order

    def take(self, size: int) -> bytes:
        data = self._handle.read(size)
        if len(data) != size:
            raise GGUFFormatError("the header is truncated")
        return data

    def unpack(self, fmt: str) -> Any:
        layout = self._order + fmt
        return struct.unpack(layout, self.take(struct.calcsize(layout)))[0]

    def string(self) -> str:
        length = self.unpack("Q")
        if length > _MAX_STRING_BYTES:
            raise GGUFFormatError(f"a string of {length} bytes is implausible")
        return self.take(length).decode("utf-8", "replace")

    def skip(self, size: int) -> None:
        self._handle.seek(size, 1)

    def value(self, value_type: int) -> Any:
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])
        if value_type == _STRING:
            return self.string()
        raise GGUFFormatError(f"unknown value type {value_type}")

    def array(self, keep_items: int = ARRAY_ITEMS_KEPT) -> tuple[list[Any], int]:
        """The first `keep_items` items of an array (by default enough to show it) and its length; the rest
        is skipped."""
        item_type, length = self.unpack("I"), self.unpack("Q")
        kept = [self.value(item_type) for _ in range(min(length, keep_items))] if item_type != _ARRAY else []
        remaining = length - len(kept)
        if item_type in _SCALARS:
            self.skip(remaining * struct.calcsize(_SCALARS[item_type]))
        elif item_type == _STRING:
            for _ in range(remaining):
                self.skip(self.unpack("Q"))
        else:
            for _ in range(length):
                self.array()
        return kept, length


def read_gguf_header(path: Path, *, whole_arrays: frozenset[str] = frozenset()) -> GGUFHeader:
    """Parse the header of a GGUF file (versions 2 and 3, either byte order). Arrays are cut short,
    except those named in `whole_arrays`."""
    with path.open("rb", buffering=1024 * 1024) as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise GGUFFormatError("missing the GGUF magic bytes")
        raw_version = handle.read(4)
        if len(raw_version) != 4:
            raise GGUFFormatError("the header is truncated")
        byte_order = "<" if struct.unpack("<I", raw_version)[0] < 0x10000 else ">"
        reader = _Reader(handle, byte_order)
        header = GGUFHeader(version=struct.unpack(byte_order + "I", raw_version)[0])
        if header.version not in (2, 3):
            raise GGUFFormatError(f"unsupported GGUF version {header.version}")
        tensor_count, kv_count = reader.unpack("Q"), reader.unpack("Q")
        for _ in range(kv_count):
            key = reader.string()
            value_type = reader.unpack("I")
            if value_type == _ARRAY:
                keep_items = _MAX_ARRAY_ITEMS if key in whole_arrays else ARRAY_ITEMS_KEPT
                header.metadata[key], header.array_lengths[key] = reader.array(keep_items)
            else:
                header.metadata[key] = reader.value(value_type)
        for _ in range(tensor_count):
            header.tensor_names.append(reader.string())
            dims = reader.unpack("I")
            if dims > _MAX_DIMS:
                raise GGUFFormatError(f"a tensor with {dims} dimensions is implausible")
            elements = 1
            for _ in range(dims):
                elements *= reader.unpack("Q")
            reader.skip(4 + 8)  # tensor type, data offset
            header.parameter_count += elements
    return header


TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4
_TOKENS_KEY, _TOKEN_TYPES_KEY = "tokenizer.ggml.tokens", "tokenizer.ggml.token_type"


def read_special_tokens(path: Path) -> list[str]:
    """The texts of the vocabulary's control and user-defined tokens: those a tokenizer matches as single
    tokens in a prompt before it tokenises the text between them."""
    header = read_gguf_header(path, whole_arrays=frozenset({_TOKENS_KEY, _TOKEN_TYPES_KEY}))
    tokens = header.metadata.get(_TOKENS_KEY) or []
    types = header.metadata.get(_TOKEN_TYPES_KEY) or []
    special = (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)
    return [token for token, kind in zip(tokens, types) if kind in special and token]


RANKING_HEAD_TENSORS = frozenset({"cls.weight", "cls.output.weight"})


def read_pooling(path: Path) -> tuple[int | None, bool]:
    """The pooling type the GGUF declares (`{architecture}.pooling_type`, None if it declares none), and
    whether it has a ranking head (a classifier output tensor), for embedding and reranking runners."""
    header = read_gguf_header(path)
    pooling = header.metadata.get(f"{header.metadata.get('general.architecture')}.pooling_type")
    has_head = bool(RANKING_HEAD_TENSORS.intersection(header.tensor_names))
    return (int(pooling) if isinstance(pooling, int) else None), has_head
