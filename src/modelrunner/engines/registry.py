"""Every engine modelrunner knows, one line each: adding an engine is a package plus a line here."""

from __future__ import annotations

from modelrunner.engines.base import EngineType, ParsedFlags
from modelrunner.engines.llamacpp.engine import LlamaCppEngine
from modelrunner.engines.remote.engine import RemoteEngine

DEFAULT_ENGINE = "llama.cpp"
REMOTE_ENGINE = RemoteEngine.name

ENGINE_TYPES: dict[str, EngineType] = {
    LlamaCppEngine.name: LlamaCppEngine,
    RemoteEngine.name: RemoteEngine,
}


def engine_type(name: str = DEFAULT_ENGINE) -> EngineType:
    return ENGINE_TYPES[name]


def parse_runtime_flags(flags: list[str], engine: str = DEFAULT_ENGINE) -> ParsedFlags:
    """Check a user's runtime flags against the engine's allow-list without starting it."""
    return engine_type(engine).parse_runtime_flags(flags)
