"""Model list bodies. `GET /v1/models` is shared by OpenAI and Anthropic clients, so one body carries
the fields both SDKs read (Anthropic's `models.list()` needs `has_more` to stop paginating)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from modelrunner.store.models import StoredModel, display_name


def _context_tokens(model: StoredModel) -> int | None:
    if model.context_size:
        return model.context_size
    trained = model.config.get("gguf", {}).get(f"{model.config.get('architecture')}.context_length")
    return int(trained) if trained else None


def openai_model(model: StoredModel, name: str) -> dict[str, Any]:
    created = model.created
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": name.split("/")[0] if "/" in name else "modelrunner",
        "type": "model",
        "display_name": name,
        "created_at": datetime.fromtimestamp(created, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
        "max_input_tokens": _context_tokens(model),
    }


def alias_model(alias: str, model: StoredModel) -> dict[str, Any]:
    """A configured `claude-*` alias as a model of its own, its display name naming the local model."""
    served_by = display_name(model.tags[0]) if model.tags else model.short_id
    return {**openai_model(model, alias), "owned_by": "modelrunner", "display_name": f"{alias} (local: {served_by})"}


def openai_model_list(models: list[StoredModel],
                      aliases: list[tuple[str, StoredModel]] | None = None) -> dict[str, Any]:
    """Configured aliases first (what Claude Code's model picker offers), then every stored tag."""
    data = [alias_model(alias, model) for alias, model in aliases or ()]
    data += [openai_model(model, display_name(tag)) for model in models for tag in model.tags]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
