"""What the API layers may read of a stored model, without depending on the store that keeps it."""

from __future__ import annotations

from typing import Any, Protocol


class ModelRecord(Protocol):
    """A model as the store describes it: tags, manifest, config and creation time."""

    @property
    def tags(self) -> tuple[str, ...]: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    @property
    def hex_id(self) -> str: ...

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def created(self) -> int: ...
