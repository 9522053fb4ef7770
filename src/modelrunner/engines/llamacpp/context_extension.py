"""A context past the one a model was trained on: llama.cpp stretches the RoPE positions with YaRN by
the ratio of the two, which degrades a model's answers far less than plain RoPE does."""

from __future__ import annotations

from typing import Any

from modelrunner.engines.base import RunnerConfig

YARN_ROPE_SCALING = 2
"""llama.cpp's LLAMA_ROPE_SCALING_TYPE_YARN."""


def yarn_settings(config: RunnerConfig) -> dict[str, Any]:
    """The xllamacpp settings that stretch RoPE from the trained context to the configured one; none
    when the context is within the trained one or that is unknown."""
    trained = config.trained_context_size
    if not trained or config.context_size <= trained:
        return {}
    return {"rope_scaling_type": YARN_ROPE_SCALING, "rope_freq_scale": trained / config.context_size,
            "yarn_orig_ctx": trained}
