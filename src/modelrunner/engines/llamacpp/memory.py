"""How much memory llama.cpp needs for a model, from its GGUF metadata, before loading it. An
estimate errs high: the point is to refuse a load that would make the machine swap, not to account
for every byte."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modelrunner.engines.base import MemoryEstimate, ModelDescription, RunnerConfig

# llama.cpp keeps prompts' KV state in host memory for reuse (8 GiB by default, per runner, outside any
# budget). We size it: at most one full KV cache of the model, and at most this share of the budget.
PROMPT_CACHE_BUDGET_SHARE = 1 / 16
PROMPT_CACHE_SETTING = "cache_ram_mib"  # xllamacpp's CommonParams field behind llama.cpp's --cache-ram
MIB = 1024 * 1024
FIXED_OVERHEAD_BYTES = 32 * 1024 * 1024
DEFAULT_UBATCH = 512
F16_BYTES = 2.0
# Bytes per element of the KV-cache types llama.cpp accepts, keyed by ggml type id (see flags.GGML_TYPES).
KV_BYTES_BY_GGML_TYPE: dict[int, float] = {0: 4.0, 1: 2.0, 30: 2.0, 8: 34 / 32, 2: 18 / 32, 3: 20 / 32,
                                           6: 22 / 32, 7: 24 / 32, 20: 18 / 32}


def _number(metadata: dict[str, Any], key: str) -> float | None:
    """A flattened GGUF value as a number; per-layer arrays (`[4, 4, 8]`) count as their maximum."""
    raw = metadata.get(key)
    if raw is None:
        return None
    text = str(raw).strip()
    if text.startswith("["):
        items = [item.strip() for item in text.strip("[]").split(",") if item.strip() not in ("", "...")]
        numbers = [float(item) for item in items if item.replace(".", "", 1).isdigit()]
        return max(numbers) if numbers else None
    try:
        return float(text)
    except ValueError:
        return None


def _kv_cache_bytes(metadata: dict[str, Any], architecture: str, config: RunnerConfig) -> int:
    layers = _number(metadata, f"{architecture}.block_count")
    embedding = _number(metadata, f"{architecture}.embedding_length")
    heads = _number(metadata, f"{architecture}.attention.head_count")
    if not layers or not embedding or not heads:
        return 0
    kv_heads = _number(metadata, f"{architecture}.attention.head_count_kv") or heads
    key_length = _number(metadata, f"{architecture}.attention.key_length") or embedding / heads
    value_length = _number(metadata, f"{architecture}.attention.value_length") or embedding / heads
    settings = config.runtime_settings
    key_bytes = KV_BYTES_BY_GGML_TYPE.get(int(settings.get("cache_type_k", 1)), F16_BYTES)
    value_bytes = KV_BYTES_BY_GGML_TYPE.get(int(settings.get("cache_type_v", 1)), F16_BYTES)
    cells = config.context_size * config.parallel_slots
    return int(layers * cells * kv_heads * (key_length * key_bytes + value_length * value_bytes))


def _compute_bytes(metadata: dict[str, Any], architecture: str, config: RunnerConfig) -> int:
    """llama.cpp's compute buffer is dominated by the logits of one micro-batch over the vocabulary."""
    vocabulary = _number(metadata, f"{architecture}.vocab_size") or 32000
    micro_batch = int(config.runtime_settings.get("n_ubatch", DEFAULT_UBATCH))
    return FIXED_OVERHEAD_BYTES + int(vocabulary * 4 * micro_batch)


def estimate_memory(model: ModelDescription, config: RunnerConfig) -> MemoryEstimate:
    return MemoryEstimate(
        weights_bytes=model.weights_bytes,
        kv_cache_bytes=_kv_cache_bytes(model.metadata, model.architecture, config),
        overhead_bytes=_compute_bytes(model.metadata, model.architecture, config),
        prompt_cache_bytes=max(0, int(config.runtime_settings.get(PROMPT_CACHE_SETTING, 0))) * MIB,
    )


def with_prompt_cache(model: ModelDescription, config: RunnerConfig, budget_bytes: int) -> RunnerConfig:
    """`config` with the engine's host prompt cache sized from the budget (0 MiB turns it off), so
    that a runner never holds more than its estimate says."""
    if PROMPT_CACHE_SETTING in config.runtime_settings:
        return config
    kv_bytes = _kv_cache_bytes(model.metadata, model.architecture, config)
    cache_mib = int(min(kv_bytes, budget_bytes * PROMPT_CACHE_BUDGET_SHARE) // MIB)
    return replace(config, runtime_settings={**config.runtime_settings, PROMPT_CACHE_SETTING: cache_mib})
