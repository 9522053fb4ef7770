"""Ollama's model descriptions (`/api/tags`, `/api/show`, `/api/ps`) from the store's model records."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from modelrunner.core.model_record import ModelRecord
from modelrunner.core.references import display_name


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def details(model: ModelRecord) -> dict[str, Any]:
    config = model.config
    architecture = config.get("architecture", "")
    return {
        "parent_model": "",
        "format": config.get("format", "gguf"),
        "family": architecture,
        "families": [architecture] if architecture else None,
        "parameter_size": config.get("parameters", ""),
        "quantization_level": config.get("quantization", ""),
    }


def size_bytes(model: ModelRecord) -> int:
    return sum(int(layer.get("size", 0)) for layer in model.manifest.get("layers", []))


def tag_entry(model: ModelRecord, tag: str) -> dict[str, Any]:
    name = display_name(tag)
    return {"name": name, "model": name, "modified_at": _rfc3339(model.created), "size": size_bytes(model),
            "digest": model.hex_id, "details": details(model)}


def tags(models: list[ModelRecord]) -> dict[str, Any]:
    return {"models": [tag_entry(model, tag) for model in models for tag in model.tags]}


def show(model: ModelRecord, chat_template: str | None) -> dict[str, Any]:
    info: dict[str, Any] = dict(model.config.get("gguf") or {})
    return {
        "modelfile": "",
        "parameters": "",
        "template": chat_template or "",
        "details": details(model),
        "model_info": info,
        "capabilities": ["completion"],
        "modified_at": _rfc3339(model.created),
    }


def running_entry(model: ModelRecord, runner: dict[str, Any]) -> dict[str, Any]:
    keep_alive = runner.get("keep_alive")
    expires = (runner["last_used"] + keep_alive) if isinstance(keep_alive, (int, float)) and keep_alive >= 0 \
        else runner["last_used"] + 10 * 365 * 24 * 3600
    name = runner["model_name"]
    return {"name": name, "model": name, "size": int((runner.get("memory") or {}).get("total", size_bytes(model))),
            "digest": model.hex_id, "details": details(model), "expires_at": _rfc3339(expires), "size_vram": 0,
            "context_length": runner.get("context_size")}
