"""Engine finish reasons -> Anthropic's stop_reason."""

from __future__ import annotations

from modelrunner.core.chat import Finish

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "context_window": "model_context_window_exceeded",
}


def stop_reason(finish: Finish, *, has_tool_use: bool) -> str:
    if finish.stop_sequence is not None:
        return "stop_sequence"
    if has_tool_use and finish.reason in ("stop", "tool_calls"):
        return "tool_use"
    if finish.reason == "tool_calls":
        return "end_turn"  # the engine meant to call a tool but no call came through
    return _STOP_REASONS[finish.reason]


def usage_object(prompt_tokens: int, cached_tokens: int, output_tokens: int) -> dict[str, int]:
    """Anthropic usage: `input_tokens` are the uncached prompt tokens, the rest came from the prefix cache."""
    return {
        "input_tokens": max(prompt_tokens - cached_tokens, 0),
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached_tokens,
    }
