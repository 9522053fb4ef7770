"""Every environment variable modelrunner reads, with its default, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PORT = 12434
DEFAULT_BIND_HOST = "127.0.0.1"
DEFAULT_MODEL = "ai/smollm2"
MAX_REQUEST_BODY_BYTES = 32 * 1024 * 1024


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _aliases(raw: str) -> dict[str, str]:
    """Parse `name=model,name2=model2` into a mapping."""
    aliases: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"MODEL_RUNNER_ALIASES entry {pair!r} is not NAME=MODEL")
        aliases[name.strip()] = target.strip()
    return aliases


@dataclass(frozen=True)
class Settings:
    """The runner's configuration, built once from the environment and passed down explicitly."""

    store_path: Path = field(default_factory=lambda: Path.home() / ".docker" / "models")
    bind_host: str = DEFAULT_BIND_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    default_model: str = DEFAULT_MODEL
    model_aliases: dict[str, str] = field(default_factory=dict)
    import_default_model: bool = True
    context_size_cap: int = 8192
    parallel_slots: int = 4
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    load_timeout_s: float = 600.0
    max_request_body_bytes: int = MAX_REQUEST_BODY_BYTES
    log_level: str = "INFO"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        store = env.get("MODELS_PATH", "").strip()
        return cls(
            store_path=Path(store).expanduser() if store else defaults.store_path,
            bind_host=env.get("MODEL_RUNNER_BIND_HOST", "").strip() or DEFAULT_BIND_HOST,
            port=_int(env, "MODEL_RUNNER_PORT", DEFAULT_PORT),
            api_key=env.get("MODEL_RUNNER_API_KEY") or None,
            default_model=env.get("MODEL_RUNNER_DEFAULT_MODEL", "").strip() or DEFAULT_MODEL,
            model_aliases=_aliases(env.get("MODEL_RUNNER_ALIASES", "")),
            import_default_model=env.get("MODEL_RUNNER_NO_DEFAULT_MODEL", "") in ("", "0"),
            context_size_cap=_int(env, "MODEL_RUNNER_CONTEXT_SIZE", defaults.context_size_cap),
            parallel_slots=_int(env, "MODEL_RUNNER_PARALLEL", defaults.parallel_slots),
            threads=_int(env, "MODEL_RUNNER_THREADS", defaults.threads),
            load_timeout_s=float(_int(env, "MODEL_RUNNER_LOAD_TIMEOUT", int(defaults.load_timeout_s))),
            log_level=env.get("MODEL_RUNNER_LOG_LEVEL", "").strip().upper() or "INFO",
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
