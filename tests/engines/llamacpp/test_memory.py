"""Memory estimates from GGUF metadata: weights from the GGUF layers, KV cache from the layer and head
counts times the configured context and slots."""

from __future__ import annotations

from pathlib import Path

from modelrunner.engines.base import MemoryEstimate, RunnerConfig
from modelrunner.engines.llamacpp import memory
from modelrunner.engines.llamacpp.flags import parse_runtime_flags
from modelrunner.engines.llamacpp.memory import FIXED_OVERHEAD_BYTES
from modelrunner.scheduler.memory import describe_model
from modelrunner.store.models import StoredModel
from tests.support.lifecycle import store_with_models


def estimate_memory(model: StoredModel, config: RunnerConfig) -> MemoryEstimate:
    return memory.estimate_memory(describe_model(model), config)


def _tiny(tmp_path: Path, tiny_gguf: Path) -> StoredModel:
    return store_with_models(tmp_path, tiny_gguf, ["ai/tiny"]).find("ai/tiny")


def test_weights_are_the_gguf_size_and_kv_follows_the_metadata(tmp_path: Path, tiny_gguf: Path) -> None:
    model = _tiny(tmp_path, tiny_gguf)
    estimate = estimate_memory(model, RunnerConfig(context_size=1024, parallel_slots=2))
    assert estimate.weights_bytes == tiny_gguf.stat().st_size
    # tiny llama: 2 layers, 2 KV heads of 64/4 = 16 dims, K and V in f16, 1024 x 2 cells
    assert estimate.kv_cache_bytes == 2 * 2048 * 2 * (16 * 2 + 16 * 2)
    assert estimate.overhead_bytes >= FIXED_OVERHEAD_BYTES
    assert estimate.total_bytes == estimate.weights_bytes + estimate.kv_cache_bytes + estimate.overhead_bytes


def test_kv_cache_grows_with_context_and_slots_and_shrinks_with_quantized_cache(tmp_path: Path,
                                                                                 tiny_gguf: Path) -> None:
    model = _tiny(tmp_path, tiny_gguf)
    base = estimate_memory(model, RunnerConfig(context_size=1024, parallel_slots=1)).kv_cache_bytes
    assert estimate_memory(model, RunnerConfig(context_size=2048, parallel_slots=1)).kv_cache_bytes == 2 * base
    assert estimate_memory(model, RunnerConfig(context_size=1024, parallel_slots=4)).kv_cache_bytes == 4 * base
    q8 = parse_runtime_flags(["--cache-type-k", "q8_0", "--cache-type-v", "q8_0"]).engine
    quantized = estimate_memory(model, RunnerConfig(context_size=1024, parallel_slots=1, runtime_settings=q8))
    assert quantized.kv_cache_bytes < base * 0.6


def test_per_layer_head_counts_use_the_largest(tmp_path: Path, tiny_gguf: Path) -> None:
    model = _tiny(tmp_path, tiny_gguf)
    document = {**model.config_document, "config": {**model.config, "gguf": {
        **model.config["gguf"], "llama.attention.head_count_kv": "[1, 2, 4]"}}}
    varied = StoredModel(id=model.id, tags=model.tags, manifest=model.manifest, config_document=document)
    config = RunnerConfig(context_size=1024, parallel_slots=1)
    assert estimate_memory(varied, config).kv_cache_bytes == 2 * estimate_memory(model, config).kv_cache_bytes
