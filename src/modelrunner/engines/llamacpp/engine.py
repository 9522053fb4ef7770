"""The llama.cpp engine: a worker process per model, running llama.cpp's server through xllamacpp."""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

from modelrunner.core.disk_usage import directory_size_bytes
from modelrunner.engines.base import MemoryEstimate, ModelDescription, ModelFiles, ParsedFlags, RunnerConfig
from modelrunner.engines.llamacpp import flags, memory
from modelrunner.engines.llamacpp.context_extension import yarn_settings
from modelrunner.engines.llamacpp.modes import mode_settings
from modelrunner.engines.llamacpp.process import WorkerProcess
from modelrunner.engines.llamacpp.runner import LlamaCppRunner

logger = logging.getLogger(__name__)

ENGINE_PACKAGE = "xllamacpp"


def _worker_settings(config: RunnerConfig) -> dict[str, Any]:
    """The xllamacpp CommonParams fields the worker sets: RoPE stretched past the trained context, the
    user's flags (which may set it otherwise), then what the config means."""
    settings: dict[str, Any] = {**yarn_settings(config), **config.runtime_settings}
    if config.reasoning is False:
        settings["default_template_kwargs"] = {"enable_thinking": "false"}
    if config.reasoning_budget_tokens is not None:
        settings["sampling.reasoning_budget_tokens"] = config.reasoning_budget_tokens
    return settings


class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, *, load_timeout_s: float) -> None:
        self._load_timeout_s = load_timeout_s

    async def start(self, files: ModelFiles, config: RunnerConfig, *, label: str) -> LlamaCppRunner:
        extension = yarn_settings(config)
        if extension:
            logger.warning("%s: context %d is beyond the %d tokens it was trained on; RoPE scaled with YaRN "
                           "(factor %.2f), expect weaker answers on long prompts", label, config.context_size,
                           extension["yarn_orig_ctx"], 1 / extension["rope_freq_scale"])
        worker_config: dict[str, Any] = {
            "model_path": str(files.gguf_path),
            "mmproj_path": str(files.mmproj_path) if files.mmproj_path else None,
            "chat_template_path": str(files.chat_template_path) if files.chat_template_path else None,
            "context_size": config.context_size,
            "parallel_slots": config.parallel_slots,
            "threads": config.threads,
            "runtime_settings": _worker_settings(config),
            **mode_settings(files, config.mode, label=label),
        }
        worker = await WorkerProcess.start(worker_config, label=label, timeout_s=self._load_timeout_s)
        return LlamaCppRunner(worker, label=label, special_tokens=files.special_tokens,
                              has_vision=files.mmproj_path is not None, mode=config.mode,
                              idle_connections=config.parallel_slots)

    @staticmethod
    def parse_runtime_flags(raw_flags: list[str]) -> ParsedFlags:
        return flags.parse_runtime_flags(raw_flags)

    def estimate_memory(self, model: ModelDescription, config: RunnerConfig) -> MemoryEstimate:
        return memory.estimate_memory(model, config)

    def within_budget(self, model: ModelDescription, config: RunnerConfig, budget_bytes: int) -> RunnerConfig:
        return memory.with_prompt_cache(model, config, budget_bytes)

    def status(self) -> str:
        try:
            version = metadata.version(ENGINE_PACKAGE)
        except metadata.PackageNotFoundError:
            return f"Not Installed: the {ENGINE_PACKAGE} package is missing"
        return f"Running: llama.cpp via {ENGINE_PACKAGE} {version}"

    def disk_usage_bytes(self) -> int:
        try:
            distribution = metadata.distribution(ENGINE_PACKAGE)
        except metadata.PackageNotFoundError:
            return 0
        return directory_size_bytes(Path(str(distribution.locate_file(ENGINE_PACKAGE))))
