"""Model names as clients send them -> names the store knows: configured aliases first, then a
fallback for Claude model names (Claude Code sends `claude-haiku-*` for background work)."""

from __future__ import annotations

from collections.abc import Mapping

CLAUDE_PREFIX = "claude-"


class ModelNameResolver:
    def __init__(self, aliases: Mapping[str, str], default_model: str) -> None:
        self._aliases = dict(aliases)
        self._default_model = default_model

    def candidates(self, requested: str) -> list[str]:
        """Names to try in order. An unknown `claude-*` name falls back to the default model."""
        name = requested.strip()
        if name in self._aliases:
            return [self._aliases[name]]
        if name.startswith(CLAUDE_PREFIX):
            return [name, self._default_model]
        return [name]
