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
RECORD_PER_MODEL = 50
RECORD_MAX_BYTES = 64 * 1024 * 1024


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
               "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}


def _bytes(environ: Mapping[str, str], name: str) -> int | None:
    """`8GiB`, `512m`, `1073741824` -> bytes; empty -> None."""
    raw = environ.get(name, "").strip().lower().replace(" ", "")
    if not raw:
        return None
    number = raw.rstrip("kmgtib")
    unit = raw[len(number):]
    try:
        value = float(number) * _BYTE_UNITS[unit]
    except (ValueError, KeyError):
        raise ValueError(f"{name} must be a size like 8GiB or 512MiB, got {raw!r}") from None
    return int(value)


def _aliases(raw: str) -> dict[str, str]:
    """Parse `name=model,name2=model2` into a mapping."""
    aliases: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"MODEL_RUNNER_ALIASES entry {pair!r} is not NAME=MODEL")
        aliases[name.strip()] = target.strip()
    return aliases


def _runner_host(environ: Mapping[str, str]) -> str:
    """Where the CLI finds the runner: MODEL_RUNNER_HOST, else the port `serve` would listen on."""
    host = environ.get("MODEL_RUNNER_HOST", "").strip().rstrip("/")
    if host:
        return host if "://" in host else f"http://{host}"
    return f"http://{DEFAULT_BIND_HOST}:{_int(environ, 'MODEL_RUNNER_PORT', DEFAULT_PORT)}"


def _mirrors(raw: str) -> dict[str, tuple[str, ...]]:
    """Parse `registry=URL|URL,registry2=URL` into registry -> mirror base URLs, tried in order."""
    mirrors: dict[str, tuple[str, ...]] = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        registry, sep, urls = pair.partition("=")
        if not sep or not registry.strip() or not urls.strip():
            raise ValueError(f"MODEL_RUNNER_REGISTRY_MIRRORS entry {pair!r} is not REGISTRY=URL")
        mirrors[registry.strip().lower()] = tuple(u.strip().rstrip("/") for u in urls.split("|") if u.strip())
    return mirrors


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, trimmed and lowercased, empty entries dropped."""
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _directories(raw: str) -> tuple[Path, ...]:
    """`MODEL_RUNNER_PACKAGE_DIRS`: absolute directories separated by the OS path separator or commas."""
    parts = [p.strip() for chunk in raw.split(os.pathsep) for p in chunk.split(",") if p.strip()]
    relative = [p for p in parts if not Path(p).is_absolute()]
    if relative:
        raise ValueError(f"MODEL_RUNNER_PACKAGE_DIRS entries must be absolute paths, got {', '.join(relative)}")
    return tuple(Path(p) for p in parts)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _optional_path(raw: str) -> Path | None:
    return Path(raw.strip()).expanduser() if raw.strip() else None


def _config_dir(environ: Mapping[str, str]) -> Path | None:
    """The user's modelrunner config folder (CLI contexts): MODEL_RUNNER_CONFIG_DIR, else XDG's."""
    explicit = _optional_path(environ.get("MODEL_RUNNER_CONFIG_DIR", ""))
    if explicit is not None:
        return explicit
    xdg = _optional_path(environ.get("XDG_CONFIG_HOME", ""))
    return xdg / "modelrunner" if xdg is not None else None


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
    memory_budget_bytes: int | None = None
    max_queued_requests: int = 32
    default_keep_alive: str = "5m"
    keep_alive_check_interval_s: float = 1.0
    health_check_interval_s: float = 5.0
    health_check_timeout_s: float = 10.0
    shutdown_grace_s: float = 10.0
    registry_user: str | None = None
    registry_password: str | None = None
    registry_mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    registry_ca_bundle: Path | None = None
    docker_config_path: Path = field(default_factory=lambda: Path.home() / ".docker" / "config.json")
    registry_max_attempts: int = 5
    pull_concurrency: int = 4
    hf_endpoint: str = "https://huggingface.co"
    hf_token: str | None = None
    runner_host: str = f"http://{DEFAULT_BIND_HOST}:{DEFAULT_PORT}"
    autostart: bool = True
    batch_expiry_s: float = 24 * 3600.0
    batch_retention_s: float = 29 * 24 * 3600.0
    batch_concurrency: int = 0  # 0: twice the parallel slots, so a freed slot is taken at once
    record_requests: bool = True
    record_per_model: int = RECORD_PER_MODEL
    record_max_bytes: int = RECORD_MAX_BYTES
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    package_dirs: tuple[Path, ...] = ()
    allow_image_urls: bool = False
    image_url_private_hosts: tuple[str, ...] = ()
    image_url_max_bytes: int = 20 * 1024 * 1024
    image_url_timeout_s: float = 10.0
    max_upload_bytes: int | None = None
    upstreams_enabled: bool = False
    upstream_health_interval_s: float = 5.0
    upstream_timeout_s: float = 5.0
    runner_host_is_explicit: bool = False
    config_dir: Path = field(default_factory=lambda: Path.home() / ".config" / "modelrunner")
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None

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
            memory_budget_bytes=_bytes(env, "MODEL_RUNNER_MEMORY_BUDGET"),
            max_queued_requests=_int(env, "MODEL_RUNNER_QUEUE_LENGTH", defaults.max_queued_requests),
            default_keep_alive=env.get("MODEL_RUNNER_KEEP_ALIVE", "").strip() or defaults.default_keep_alive,
            keep_alive_check_interval_s=_float(env, "MODEL_RUNNER_KEEP_ALIVE_CHECK_INTERVAL",
                                               defaults.keep_alive_check_interval_s),
            health_check_interval_s=_float(env, "MODEL_RUNNER_HEALTH_CHECK_INTERVAL", defaults.health_check_interval_s),
            health_check_timeout_s=_float(env, "MODEL_RUNNER_HEALTH_CHECK_TIMEOUT", defaults.health_check_timeout_s),
            shutdown_grace_s=_float(env, "MODEL_RUNNER_SHUTDOWN_GRACE", defaults.shutdown_grace_s),
            registry_user=env.get("MODEL_RUNNER_REGISTRY_USER") or None,
            registry_password=env.get("MODEL_RUNNER_REGISTRY_PASSWORD") or None,
            registry_mirrors=_mirrors(env.get("MODEL_RUNNER_REGISTRY_MIRRORS", "")),
            registry_ca_bundle=_optional_path(env.get("MODEL_RUNNER_REGISTRY_CA_BUNDLE", "")),
            docker_config_path=(_optional_path(env.get("DOCKER_CONFIG", "")) / "config.json"
                                if env.get("DOCKER_CONFIG", "").strip() else defaults.docker_config_path),
            registry_max_attempts=max(1, _int(env, "MODEL_RUNNER_REGISTRY_ATTEMPTS", defaults.registry_max_attempts)),
            pull_concurrency=max(1, _int(env, "MODEL_RUNNER_PULL_CONCURRENCY", defaults.pull_concurrency)),
            hf_endpoint=(env.get("HF_ENDPOINT", "").strip().rstrip("/") or defaults.hf_endpoint),
            hf_token=env.get("HF_TOKEN") or None,
            runner_host=_runner_host(env),
            autostart=env.get("MODEL_RUNNER_NO_AUTOSTART", "") in ("", "0"),
            batch_expiry_s=_float(env, "MODEL_RUNNER_BATCH_EXPIRY", defaults.batch_expiry_s),
            batch_retention_s=_float(env, "MODEL_RUNNER_BATCH_RETENTION", defaults.batch_retention_s),
            batch_concurrency=_int(env, "MODEL_RUNNER_BATCH_CONCURRENCY", defaults.batch_concurrency),
            record_requests=env.get("MODEL_RUNNER_RECORD", "").strip() != "0",
            record_per_model=max(0, _int(env, "MODEL_RUNNER_RECORD_PER_MODEL", RECORD_PER_MODEL)),
            record_max_bytes=_bytes(env, "MODEL_RUNNER_RECORD_MAX_BYTES") or RECORD_MAX_BYTES,
            allowed_hosts=_names(env.get("MODEL_RUNNER_ALLOWED_HOSTS", "")),
            allowed_origins=_names(env.get("MODEL_RUNNER_ORIGINS", "")),
            package_dirs=_directories(env.get("MODEL_RUNNER_PACKAGE_DIRS", "")),
            allow_image_urls=_flag(env, "MODEL_RUNNER_ALLOW_IMAGE_URLS"),
            image_url_private_hosts=_names(env.get("MODEL_RUNNER_IMAGE_URL_PRIVATE_HOSTS", "")),
            image_url_max_bytes=_bytes(env, "MODEL_RUNNER_IMAGE_URL_MAX_BYTES") or defaults.image_url_max_bytes,
            image_url_timeout_s=_float(env, "MODEL_RUNNER_IMAGE_URL_TIMEOUT", defaults.image_url_timeout_s),
            max_upload_bytes=_bytes(env, "MODEL_RUNNER_MAX_UPLOAD_BYTES"),
            upstreams_enabled=_flag(env, "MODEL_RUNNER_UPSTREAMS"),
            upstream_health_interval_s=_float(env, "MODEL_RUNNER_UPSTREAM_HEALTH_INTERVAL",
                                              defaults.upstream_health_interval_s),
            upstream_timeout_s=_float(env, "MODEL_RUNNER_UPSTREAM_TIMEOUT", defaults.upstream_timeout_s),
            runner_host_is_explicit=bool(env.get("MODEL_RUNNER_HOST", "").strip()),
            config_dir=_config_dir(env) or defaults.config_dir,
            tls_cert_path=_optional_path(env.get("MODEL_RUNNER_TLS_CERT", "")),
            tls_key_path=_optional_path(env.get("MODEL_RUNNER_TLS_KEY", "")),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def read_secret(name: str) -> str | None:
    """The value of the environment variable an upstream's `api_key_env` names, read when it is used
    (the key itself is never stored)."""
    return os.environ.get(name) or None
