"""A context beyond the trained length, on request only: the scheduler tells the engine the trained
length, the llama.cpp engine scales RoPE with YaRN from the ratio and warns in the log, the KV cache is
counted at the larger size, and the memory error comes up front when it cannot fit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from modelrunner.engines.base import MemoryEstimate, RunnerConfig
from modelrunner.engines.llamacpp import memory
from modelrunner.engines.llamacpp.context_extension import YARN_ROPE_SCALING, yarn_settings
from modelrunner.engines.llamacpp.engine import LlamaCppEngine, _worker_settings
from modelrunner.scheduler import runner_slot
from modelrunner.scheduler.memory import describe_model
from modelrunner.scheduler.model_config import ModelSettings
from modelrunner.scheduler.runner_slot import trained_context
from modelrunner.settings import Settings
from modelrunner.store.models import StoredModel
from tests.support.lifecycle import chat, running, start_server, store_with_models, workers_of

TRAINED = 2048  # the tiny model's llama.context_length


def estimate_memory(model: StoredModel, config: RunnerConfig) -> MemoryEstimate:
    """The llama.cpp engine's estimate (it owns memory estimates since the engine boundary)."""
    return memory.estimate_memory(describe_model(model), config)


def runner_config(model: StoredModel, settings: ModelSettings, defaults: Settings) -> RunnerConfig:
    """The scheduler's config with the llama.cpp engine validating the runtime flags."""
    return runner_slot.runner_config(model, settings, defaults, LlamaCppEngine)


@pytest.fixture
def tiny(tmp_path: Path, tiny_gguf: Path) -> StoredModel:
    return store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"]).find("ai/tiny")


def test_without_a_request_nothing_changes(tiny: StoredModel) -> None:
    assert trained_context(tiny) == TRAINED
    config = runner_config(tiny, ModelSettings(), Settings(context_size_cap=1 << 20))
    assert config.context_size == TRAINED
    assert config.trained_context_size == TRAINED
    assert yarn_settings(config) == {}
    within = runner_config(tiny, ModelSettings(context_size=1024), Settings())
    assert yarn_settings(within) == {}


def test_a_configured_context_beyond_the_trained_one_is_scaled_with_yarn(tiny: StoredModel) -> None:
    config = runner_config(tiny, ModelSettings(context_size=4 * TRAINED), Settings())
    assert config.context_size == 4 * TRAINED
    assert not any(key.startswith(("rope", "yarn")) for key in config.runtime_settings)  # the engine's to decide
    scaled = yarn_settings(config)
    assert scaled["rope_scaling_type"] == YARN_ROPE_SCALING
    assert scaled["rope_freq_scale"] == pytest.approx(0.25)
    assert scaled["yarn_orig_ctx"] == TRAINED
    assert scaled.items() <= _worker_settings(config).items()  # what the worker is started with
    # The memory check counts the larger KV cache.
    trained = estimate_memory(tiny, RunnerConfig(context_size=TRAINED, parallel_slots=config.parallel_slots))
    assert estimate_memory(tiny, config).kv_cache_bytes == 4 * trained.kv_cache_bytes


def test_the_server_loads_it_warns_and_serves_past_the_trained_length(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            configured = http.post("/engines/_configure", json={"model": "ai/tiny", "context-size": 3 * TRAINED})
            assert configured.status_code in (200, 202), configured.text
            long_prompt = "the cat sat on the mat " * 350  # about 4200 tokens: past 2048, within 6144
            answer = chat(http, "ai/tiny", messages=[{"role": "user", "content": long_prompt}])
            assert answer.status_code == 200, answer.text
            assert answer.json()["usage"]["prompt_tokens"] > TRAINED
            assert running(http)["ai/tiny:latest"]["context_size"] == 3 * TRAINED
        assert "beyond the 2048 tokens it was trained on; RoPE scaled with YaRN" in server.log()
    finally:
        server.stop()


def test_a_context_beyond_memory_is_the_memory_error_before_any_load(tmp_path: Path, tiny_gguf: Path) -> None:
    store = store_with_models(tmp_path / "store", tiny_gguf, ["ai/tiny"])
    model = store.find("ai/tiny")
    fits = estimate_memory(model, runner_config(model, ModelSettings(context_size=TRAINED), Settings(parallel_slots=1)))
    server = start_server(store.root, tmp_path / "log", MODEL_RUNNER_PARALLEL="1",
                          MODEL_RUNNER_MEMORY_BUDGET=str(fits.total_bytes * 2))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            refused = http.post("/engines/_configure", json={"model": "ai/tiny", "context-size": 1 << 20})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["message"].startswith(
                "not enough memory for ai/tiny:latest with a context of 1048576 tokens: needs ")
            assert running(http) == {}
            kept = http.get("/engines/_configure", params={"model": "ai/tiny"}).json()
            assert kept[0]["context-size"] is None
        assert workers_of(server) == []
    finally:
        server.stop()
