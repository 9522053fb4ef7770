"""The llama.cpp command-line flags a user may set per model (Docker Model Runner's `runtime-flags`),
checked against an allow-list and turned into the xllamacpp CommonParams fields the worker sets.

Anything that names a file, a port, a host or another process is refused: configuration arrives over
HTTP and must not become a way to read files or open sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.base import ParsedFlags

PARAM = "runtime-flags"
GGML_TYPES = {"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "iq4_nl": 20}
_FLASH_ATTENTION = {"on": 1, "off": 0, "auto": -1, "enabled": 1, "disabled": 0, "true": 1, "false": 0,
                    "1": 1, "0": 0}


def _bounded(kind: type[int] | type[float], noun: str, low: float, high: float) -> Callable[[str, str], Any]:
    def parse(flag: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise InvalidRequest(f"runtime flag {flag} needs {noun}, got {raw!r}", param=PARAM) from None
        if not low <= value <= high:
            raise InvalidRequest(f"runtime flag {flag} must be between {low} and {high}, got {value}", param=PARAM)
        return value
    return parse


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    return _bounded(int, "a whole number", low, high)


def _decimal(low: float, high: float) -> Callable[[str, str], float]:
    return _bounded(float, "a number", low, high)


def _choice(choices: dict[str, int]) -> Callable[[str, str], int]:
    def parse(flag: str, raw: str) -> int:
        value = choices.get(raw.strip().lower())
        if value is None:
            raise InvalidRequest(f"runtime flag {flag} must be one of {', '.join(sorted(choices))}, got {raw!r}",
                                 param=PARAM)
        return value
    return parse


@dataclass(frozen=True)
class FlagSpec:
    """One allowed flag: the CommonParams field it sets (or a RunnerConfig field) and its parser."""

    target: str
    parse: Callable[[str, str], Any]


_THREADS = FlagSpec("threads", _integer(1, 1024))
_PARALLEL = FlagSpec("parallel_slots", _integer(1, 64))
_REASONING_BUDGET = FlagSpec("reasoning_budget_tokens", _integer(-1, 1_000_000))
_ALLOWED: dict[str, FlagSpec] = {
    "--threads": _THREADS, "-t": _THREADS,
    "--parallel": _PARALLEL, "-np": _PARALLEL,
    "--batch-size": FlagSpec("n_batch", _integer(1, 1 << 20)), "-b": FlagSpec("n_batch", _integer(1, 1 << 20)),
    "--ubatch-size": FlagSpec("n_ubatch", _integer(1, 1 << 20)), "-ub": FlagSpec("n_ubatch", _integer(1, 1 << 20)),
    "--cache-type-k": FlagSpec("cache_type_k", _choice(GGML_TYPES)),
    "-ctk": FlagSpec("cache_type_k", _choice(GGML_TYPES)),
    "--cache-type-v": FlagSpec("cache_type_v", _choice(GGML_TYPES)),
    "-ctv": FlagSpec("cache_type_v", _choice(GGML_TYPES)),
    "--flash-attn": FlagSpec("flash_attn_type", _choice(_FLASH_ATTENTION)),
    "-fa": FlagSpec("flash_attn_type", _choice(_FLASH_ATTENTION)),
    "--temp": FlagSpec("sampling.temp", _decimal(0.0, 100.0)),
    "--top-k": FlagSpec("sampling.top_k", _integer(0, 1_000_000)),
    "--top-p": FlagSpec("sampling.top_p", _decimal(0.0, 1.0)),
    "--min-p": FlagSpec("sampling.min_p", _decimal(0.0, 1.0)),
    "--repeat-penalty": FlagSpec("sampling.penalty_repeat", _decimal(0.0, 10.0)),
    "--repeat-last-n": FlagSpec("sampling.penalty_last_n", _integer(-1, 1_000_000)),
    "--presence-penalty": FlagSpec("sampling.penalty_present", _decimal(-2.0, 2.0)),
    "--frequency-penalty": FlagSpec("sampling.penalty_freq", _decimal(-2.0, 2.0)),
    "--seed": FlagSpec("sampling.seed", _integer(-1, 2**32 - 1)),
    "--reasoning-budget": _REASONING_BUDGET,
}
RUNNER_FIELDS = frozenset({"threads", "parallel_slots", "reasoning_budget_tokens"})


def parse_runtime_flags(flags: list[str]) -> ParsedFlags:
    """Validate `["--threads", "4", "--temp=0.5"]`; the first refused flag raises InvalidRequest naming it."""
    parsed = ParsedFlags()
    position = 0
    while position < len(flags):
        token = flags[position].strip()
        name, has_inline, inline = token.partition("=")
        spec = _ALLOWED.get(name)
        if spec is None:
            raise InvalidRequest(
                f"runtime flag {name!r} is not allowed; allowed: {', '.join(sorted(k for k in _ALLOWED if k.startswith('--')))}",
                param=PARAM,
            )
        if has_inline:
            raw = inline
            position += 1
        elif position + 1 < len(flags):
            raw = flags[position + 1]
            position += 2
        else:
            raise InvalidRequest(f"runtime flag {name} needs a value", param=PARAM)
        if "/" in raw or "\\" in raw:
            raise InvalidRequest(f"runtime flag {name} must not name a path, got {raw!r}", param=PARAM)
        target = parsed.runner if spec.target in RUNNER_FIELDS else parsed.engine
        target[spec.target] = spec.parse(name, raw)
    return parsed
