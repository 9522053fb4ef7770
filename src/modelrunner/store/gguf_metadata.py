"""Read what a model's config needs from a GGUF file's header: architecture, size, quantization,
context length and the flattened key/value metadata (long arrays such as the vocabulary left out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from modelrunner.core.errors import InvalidRequest

MAX_ARRAY_ITEMS_KEPT = 16
_SKIPPED_KEYS = frozenset({"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"})


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
        shown = ", ".join(str(v) for v in value[:MAX_ARRAY_ITEMS_KEPT])
        return f"[{shown}]" if len(value) <= MAX_ARRAY_ITEMS_KEPT else f"[{shown}, ...]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_gguf_summary(path: Path) -> GGUFSummary:
    """Parse a GGUF header. Blocking (seconds for large vocabularies): call it off the event loop."""
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except Exception as exc:
        raise InvalidRequest(f"{path.name} is not a readable GGUF file: {exc}") from exc

    values: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for key, reader_field in reader.fields.items():
        if key in _SKIPPED_KEYS:
            continue
        value = reader_field.contents()
        values[key] = value
        if isinstance(value, list) and len(value) > MAX_ARRAY_ITEMS_KEPT:
            continue
        if key != "tokenizer.chat_template":
            metadata[key] = _flatten(value)

    architecture = str(values.get("general.architecture", "unknown"))
    context = values.get(f"{architecture}.context_length")
    return GGUFSummary(
        architecture=architecture,
        parameter_count=sum(int(tensor.n_elements) for tensor in reader.tensors),
        quantization=_quantization_name(values.get("general.file_type")),
        context_length=int(context) if context is not None else None,
        metadata=metadata,
        chat_template=values.get("tokenizer.chat_template"),
    )
