"""The llama.cpp engine: starts a worker process per model."""

from __future__ import annotations

import asyncio
from typing import Any

from modelrunner.engines.base import ModelFiles, RunnerConfig
from modelrunner.engines.llamacpp.modes import mode_settings
from modelrunner.engines.llamacpp.process import WorkerProcess
from modelrunner.engines.llamacpp.runner import LlamaCppRunner


class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, *, load_timeout_s: float) -> None:
        self._load_timeout_s = load_timeout_s

    async def start(self, files: ModelFiles, config: RunnerConfig, *, label: str) -> LlamaCppRunner:
        worker_config: dict[str, Any] = {
            "model_path": str(files.gguf_path),
            "mmproj_path": str(files.mmproj_path) if files.mmproj_path else None,
            "chat_template_path": str(files.chat_template_path) if files.chat_template_path else None,
            "context_size": config.context_size,
            "parallel_slots": config.parallel_slots,
            "threads": config.threads,
            "runtime_settings": dict(config.runtime_settings),
            **await asyncio.to_thread(mode_settings, files.gguf_path, config.mode, label=label),
        }
        worker = await WorkerProcess.start(worker_config, label=label, timeout_s=self._load_timeout_s)
        return LlamaCppRunner(worker, label=label, gguf_path=files.gguf_path,
                              has_vision=files.mmproj_path is not None)
