"""Stop sequences matched on the streamed text, engine-independently, so that a client learns which
sequence matched (Anthropic's `stop_sequence`) and never sees any of its characters."""

from __future__ import annotations


class StopSequenceMatcher:
    """Feed text as it streams; get back what is safe to emit and whether a stop sequence matched.

    Text that could be the start of a stop sequence is held back until it either completes a match
    (then it is dropped) or cannot (then it is released).
    """

    __slots__ = ("_stops", "_held", "_longest")

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self._longest = max((len(s) for s in self._stops), default=0)

    @property
    def is_active(self) -> bool:
        return bool(self._stops)

    def feed(self, text: str) -> tuple[str, str | None]:
        """Returns (text to emit now, the stop sequence that matched or None)."""
        buffer = self._held + text
        first_at, matched = -1, None
        for stop in self._stops:
            at = buffer.find(stop)
            if at != -1 and (first_at == -1 or at < first_at):
                first_at, matched = at, stop
        if matched is not None:
            self._held = ""
            return buffer[:first_at], matched
        keep = self._partial_suffix_length(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep], None

    def flush(self) -> str:
        """The held-back text, released when generation ends without a match."""
        held, self._held = self._held, ""
        return held

    def _partial_suffix_length(self, buffer: str) -> int:
        for length in range(min(self._longest - 1, len(buffer)), 0, -1):
            suffix = buffer[-length:]
            if any(stop.startswith(suffix) for stop in self._stops):
                return length
        return 0
