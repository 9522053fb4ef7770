"""`modelrunner verify`: hash every blob of the stored models and compare it with its digest, so that
flipped weight bytes or a truncated file are found before they are served. Blocking: run it in a thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelrunner.store.files import sha256_of_file
from modelrunner.store.models import StoredModel
from modelrunner.store.store import ModelStore


@dataclass
class ModelCheck:
    """One model's verdict: every blob it names, and what is wrong with those that are not right."""

    model: StoredModel
    blobs_checked: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {"id": self.model.id, "tags": list(self.model.tags), "ok": not self.problems,
                "blobs_checked": self.blobs_checked, "problems": self.problems}


def _digests_of(model: StoredModel) -> list[str]:
    config = model.manifest.get("config") or {}
    return [config.get("digest", ""), *(layer.get("digest", "") for layer in model.manifest.get("layers", []))]


def verify_model(store: ModelStore, model: StoredModel) -> ModelCheck:
    check = ModelCheck(model)
    for digest in _digests_of(model):
        check.blobs_checked += 1
        path = store.blob_path(digest)
        try:
            actual = "sha256:" + sha256_of_file(path)
        except FileNotFoundError:
            check.problems.append({"digest": digest, "problem": "missing"})
            continue
        if actual != digest:
            check.problems.append({"digest": digest, "problem": f"content does not match its digest (it hashes to "
                                                                f"{actual})"})
    return check


def verify_store(store: ModelStore, name: str | None = None) -> list[ModelCheck]:
    """Check one model (`name`) or every model in the store."""
    models = [store.find(name)] if name else store.list_models()
    return [verify_model(store, model) for model in models]
