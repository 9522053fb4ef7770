"""What a model's config needs from a GGUF file's header: architecture, size, quantization, context
length and the flattened key/value metadata (long arrays such as the vocabulary left out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from modelrunner.core.errors import InvalidRequest
from modelrunner.store.gguf_header import ARRAY_ITEMS_KEPT, GGUFFormatError, read_gguf_header

MAX_ARRAY_ITEMS_KEPT = ARRAY_ITEMS_KEPT


@dataclass(frozen=True)
class GGUFSummary:
    architecture: str
    parameter_count: int
    quantization: str
    context_length: int | None
    metadata: dict[str, str] = field(default_factory=dict)
    chat_template: str | None = None


def format_parameters(count: int) -> str:
    """`134515008` -> `134.52M`, as Docker Model Runner shows parameter counts."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


def format_size(size_bytes: int) -> str:
    """`98362432` -> `93.81MiB`."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.2f}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1024
    raise AssertionError("unreachable")


def _quantization_name(file_type: int | None) -> str:
    if file_type is None:
        return "unknown"
    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return "unknown"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_gguf_summary(path: Path) -> GGUFSummary:
    """Parse a GGUF header. Blocking file I/O: call it off the event loop."""
    try:
        header = read_gguf_header(path)
    except (OSError, GGUFFormatError) as exc:
        raise InvalidRequest(f"{path.name} is not a readable GGUF file: {exc}") from exc

    metadata = {
        key: _flatten(value)
        for key, value in header.metadata.items()
        if header.array_lengths.get(key, 0) <= MAX_ARRAY_ITEMS_KEPT and key != "tokenizer.chat_template"
    }
    values = header.metadata
    architecture = str(values.get("general.architecture", "unknown"))
    context = values.get(f"{architecture}.context_length")
    template = values.get("tokenizer.chat_template")
    return GGUFSummary(
        architecture=architecture,
        parameter_count=header.parameter_count,
        quantization=_quantization_name(values.get("general.file_type")),
        context_length=int(context) if context is not None else None,
        metadata=metadata,
        chat_template=template if isinstance(template, str) else None,
    )
