"""Per-model configuration set through `POST /engines/_configure`, kept in the store directory so
that it survives a restart. Bodies use Docker Model Runner's field names (`context-size`,
`runtime-flags`...); a field left out keeps its stored value, `null` clears it."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.registry import parse_runtime_flags
from modelrunner.scheduler.keep_alive import parse_keep_alive
from modelrunner.store.files import write_atomically
from modelrunner.store.locking import InterProcessLock

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "modelrunner-config.json"
CONFIG_LOCK_FILENAME = ".modelrunner-config.lock"
MODES = ("completion", "embedding")
RUNTIME_FLAGS_PARAM = "runtime-flags"
MAX_CONTEXT_SIZE = 1 << 20

_FIELD_BY_KEY = {
    "context-size": "context_size", "context_size": "context_size",
    "runtime-flags": "runtime_flags", "raw-runtime-flags": "runtime_flags",
    "keep_alive": "keep_alive", "keep-alive": "keep_alive",
    "mode": "mode",
    "think": "reasoning", "reasoning": "reasoning",
    "reasoning-budget": "reasoning_budget_tokens", "reasoning_budget": "reasoning_budget_tokens",
}
_IGNORED_KEYS = frozenset({"model", "backend"})


@dataclass(frozen=True)
class ModelSettings:
    """What a user configured for one model; None means "use the default"."""

    context_size: int | None = None
    runtime_flags: list[str] = field(default_factory=list)
    keep_alive: str | None = None
    mode: str | None = None
    reasoning: bool | None = None
    reasoning_budget_tokens: int | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "context-size": self.context_size,
            "runtime-flags": list(self.runtime_flags),
            "keep_alive": self.keep_alive,
            "mode": self.mode,
            "think": self.reasoning,
            "reasoning-budget": self.reasoning_budget_tokens,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ModelSettings:
        known = {key: stored[key] for key in asdict(cls()) if key in stored}
        return cls(**known)


def _check_context_size(value: Any) -> int | None:
    if value is None or value == -1:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONTEXT_SIZE:
        raise InvalidRequest(f"context-size must be a whole number from 1 to {MAX_CONTEXT_SIZE}, got {value!r}",
                             param="context-size")
    return value


def _check_keep_alive(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(f"keep_alive must be a duration like 5m, got {value!r}", param="keep_alive")
    parse_keep_alive(value)
    return str(value)


def _check_mode(value: Any) -> str | None:
    if value is None or value in MODES:
        return value
    raise InvalidRequest(f"mode must be one of {', '.join(MODES)}, got {value!r}", param="mode")


def _check_reasoning(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequest(f"think must be true or false, got {value!r}", param="think")


def _check_reasoning_budget(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise InvalidRequest(f"reasoning-budget must be -1 (unlimited) or a number of tokens, got {value!r}",
                             param="reasoning-budget")
    return value


def split_flags(raw: str | list[str] | None) -> list[str]:
    """Runtime flags as a list, a string split like a shell; the engine checks each flag on configure."""
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            return shlex.split(raw)
        except ValueError as exc:
            raise InvalidRequest(f"runtime flags could not be read: {exc}", param=RUNTIME_FLAGS_PARAM) from None
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise InvalidRequest("runtime-flags must be a list of strings", param=RUNTIME_FLAGS_PARAM)
    return list(raw)


def _check_flags(value: Any) -> list[str]:
    flags = split_flags(value)
    parse_runtime_flags(flags)
    return flags


_CHECKS = {
    "context_size": _check_context_size,
    "runtime_flags": _check_flags,
    "keep_alive": _check_keep_alive,
    "mode": _check_mode,
    "reasoning": _check_reasoning,
    "reasoning_budget_tokens": _check_reasoning_budget,
}


def apply_configure_body(current: ModelSettings, body: dict[str, Any]) -> ModelSettings:
    """The settings after a configure request; any unknown or invalid field raises InvalidRequest."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in _IGNORED_KEYS:
            continue
        name = _FIELD_BY_KEY.get(key)
        if name is None:
            raise InvalidRequest(f"unknown setting {key!r}; known: {', '.join(sorted(_FIELD_BY_KEY))}", param=key)
        changes[name] = _CHECKS[name](value)
    return replace(current, **changes)


class ModelConfigFile:
    """The configurations of every model, by model ID, in one JSON file written atomically.
    Several runners may share the store: a change is merged into the file under an inter-process lock
    (never written from this runner's memory), and `refresh` picks up the others' changes.
    Blocking file I/O: call `load`, `refresh`, `update` and `save` from a thread."""

    def __init__(self, store_root: Path) -> None:
        self.path = store_root / CONFIG_FILENAME
        self._lock = InterProcessLock(store_root / CONFIG_LOCK_FILENAME)
        self._entries: dict[str, dict[str, Any]] = {}
        self._seen: tuple[int, int, int] | None = None

    def _stat_key(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            document = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable model configuration %s: %s", self.path, exc)
            return dict(self._entries)
        models = document.get("models") if isinstance(document, dict) else None
        if not isinstance(models, dict):
            return {}
        return {key: value for key, value in models.items() if isinstance(value, dict)}

    def load(self) -> None:
        self._seen = self._stat_key()
        self._entries = self._read()

    def refresh(self) -> None:
        """Re-read the file when another writer (another runner on this store) changed it."""
        if self._stat_key() != self._seen:
            self.load()

    def update(self, model_id: str, name: str, change: Callable[[ModelSettings], ModelSettings]) -> ModelSettings:
        """Apply `change` to the model's settings as the file has them now, and write the file back,
        all under the lock: concurrent changes to other models (or fields) are kept."""
        with self._lock:
            self.load()
            updated = change(self.settings_for(model_id))
            self._write({**self._entries, model_id: {"model": name, "settings": asdict(updated)}})
        return updated

    def settings_for(self, model_id: str) -> ModelSettings:
        entry = self._entries.get(model_id)
        return ModelSettings.from_stored(entry["settings"]) if entry and "settings" in entry else ModelSettings()

    def entries(self) -> dict[str, dict[str, Any]]:
        return {key: dict(value) for key, value in self._entries.items()}

    def save(self, model_id: str, name: str, settings: ModelSettings) -> None:
        self.update(model_id, name, lambda _current: settings)

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        document = {"version": 1, "models": entries}
        write_atomically(self.path, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
        self._entries = entries
        self._seen = self._stat_key()
