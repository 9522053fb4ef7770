"""keep_alive durations with Ollama / Docker Model Runner semantics: `5m`, `1h30m`, `300` (seconds),
`0` (unload right after the request), negative (never unload)."""

from __future__ import annotations

import math
import re

from modelrunner.core.errors import InvalidRequest

DEFAULT_KEEP_ALIVE_S = 300.0
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: str | int | float | None) -> float | None:
    """Seconds to keep a model loaded after its last request; `math.inf` for never. None: not given."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.inf if value < 0 else float(value)
    text = str(value).strip().lower()
    negative = text.startswith("-")
    body = text.lstrip("-+")
    try:
        seconds = float(body)
    except ValueError:
        position, seconds = 0, 0.0
        for match in _PART.finditer(body):
            if match.start() != position:
                break
            seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
            position = match.end()
        if position != len(body) or not body:
            raise InvalidRequest(f"invalid keep_alive {value!r}: use a duration like 5m, 1h or 30s", param="keep_alive") from None
    if negative and seconds > 0:
        return math.inf
    return seconds
