"""Pull progress events (Docker Model Runner's JSON lines) -> Ollama's `/api/pull` status lines."""

from __future__ import annotations

from typing import Any


def ollama_status(event: dict[str, Any]) -> dict[str, Any]:
    kind = event.get("type")
    if kind == "error":
        return {"error": event.get("message", "pull failed")}
    if kind == "success":
        return {"status": "success"}
    layer = event.get("layer") or {}
    if layer.get("id"):
        digest = str(layer["id"])
        return {"status": f"pulling {digest.removeprefix('sha256:')[:12]}", "digest": digest,
                "total": int(layer.get("size") or 0), "completed": int(layer.get("current") or 0)}
    return {"status": event.get("message", "")}
