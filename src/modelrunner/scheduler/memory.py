"""How much memory a model needs once loaded, estimated from its GGUF metadata before loading it, and
how much the runner may use in all. An estimate errs high: the point is to refuse a load that would
make the machine swap, not to account for every byte."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import psutil

from modelrunner.engines.base import RunnerConfig
from modelrunner.store import media_types
from modelrunner.store.gguf_metadata import format_size
from modelrunner.store.models import StoredModel

DEFAULT_BUDGET_FRACTION = 0.8
# llama.cpp keeps prompts' KV state in host memory for reuse (8 GiB by default, per runner, outside any
# budget). We size it: at most one full KV cache of the model, and at most this share of the budget.
PROMPT_CACHE_BUDGET_SHARE = 1 / 16
PROMPT_CACHE_SETTING = "cache_ram_mib"  # xllamacpp's CommonParams field behind llama.cpp's --cache-ram
MIB = 1024 * 1024
FIXED_OVERHEAD_BYTES = 32 * 1024 * 1024
DEFAULT_UBATCH = 512
F16_BYTES = 2.0
# Bytes per element of the KV-cache types llama.cpp accepts, keyed by ggml type id (see runtime_flags).
KV_BYTES_BY_GGML_TYPE: dict[int, float] = {0: 4.0, 1: 2.0, 30: 2.0, 8: 34 / 32, 2: 18 / 32, 3: 20 / 32,
                                           6: 22 / 32, 7: 24 / 32, 20: 18 / 32}


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    prompt_cache_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes + self.prompt_cache_bytes

    def to_api(self) -> dict[str, int]:
        return {"weights": self.weights_bytes, "kv_cache": self.kv_cache_bytes,
                "overhead": self.overhead_bytes, "prompt_cache": self.prompt_cache_bytes,
                "total": self.total_bytes}


def default_budget_bytes() -> int:
    return int(psutil.virtual_memory().total * DEFAULT_BUDGET_FRACTION)


def describe_bytes(size_bytes: int) -> str:
    return format_size(max(0, size_bytes))


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


def _weights_bytes(model: StoredModel) -> int:
    layers = [*model.layers_of(media_types.GGUF), *model.layers_of(media_types.MMPROJ)]
    return sum(int(layer.get("size", 0)) for layer in layers)


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


def estimate_memory(model: StoredModel, config: RunnerConfig) -> MemoryEstimate:
    metadata = model.config.get("gguf") or {}
    architecture = str(model.config.get("architecture") or metadata.get("general.architecture") or "")
    return MemoryEstimate(
        weights_bytes=_weights_bytes(model),
        kv_cache_bytes=_kv_cache_bytes(metadata, architecture, config),
        overhead_bytes=_compute_bytes(metadata, architecture, config),
        prompt_cache_bytes=max(0, int(config.runtime_settings.get(PROMPT_CACHE_SETTING, 0))) * MIB,
    )


def with_prompt_cache(model: StoredModel, config: RunnerConfig, budget_bytes: int) -> RunnerConfig:
    """`config` with the engine's host prompt cache sized from the budget (0 MiB turns it off), so
    that a runner never holds more than its estimate says."""
    if PROMPT_CACHE_SETTING in config.runtime_settings:
        return config
    metadata = model.config.get("gguf") or {}
    architecture = str(model.config.get("architecture") or metadata.get("general.architecture") or "")
    kv_bytes = _kv_cache_bytes(metadata, architecture, config)
    cache_mib = int(min(kv_bytes, budget_bytes * PROMPT_CACHE_BUDGET_SHARE) // MIB)
    return replace(config, runtime_settings={**config.runtime_settings, PROMPT_CACHE_SETTING: cache_mib})


def resident_bytes(pid: int | None) -> int | None:
    """A process's measured resident memory (RSS), or None when it is gone. Blocking (reads /proc)."""
    if pid is None:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def add_resident_memory(runners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each worker's measured memory beside its estimate in `/engines/ps` rows."""
    for runner in runners:
        runner.setdefault("memory", {})["resident"] = resident_bytes(runner.get("pid"))
    return runners
