"""Entry point of a llama.cpp worker process: `python -m modelrunner.engines.llamacpp.worker CONFIG`.

It loads one model into llama.cpp's own server (continuous batching, prompt cache, chat templates,
tool-call parsing, grammars) listening on the Unix socket its config names (else on an ephemeral
loopback port), announces where as one JSON line on stdout, and lives until its parent closes stdin:
the parent dying, even by `kill -9`, closes the pipe, so a worker never outlives the runner that
started it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

import orjson

READY_EVENT = "ready"
FAILED_EVENT = "failed"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the parent goes: a second guard beside the stdin pipe."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _announce(event: str, **fields: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
    sys.stdout.buffer.flush()


def build_params(config: dict[str, Any]) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    if config.get("mmproj_path"):
        params.mmproj.path = config["mmproj_path"]
    if config.get("chat_template_path"):
        with open(config["chat_template_path"], encoding="utf-8") as template:
            params.chat_template = template.read()
    slots = int(config["parallel_slots"])
    params.n_parallel = slots
    params.n_ctx = int(config["context_size"]) * slots
    params.cpuparams.n_threads = int(config["threads"])
    params.cpuparams_batch.n_threads = int(config["threads"])
    params.n_threads_http = slots + 4
    params.port = 0
    if config.get("socket_path"):  # a Unix socket: cheaper per request than loopback TCP, and private
        params.hostnames = [config["socket_path"]]
    params.use_jinja = True
    params.cache_prompt = True
    params.cont_batching = True
    params.endpoint_slots = True
    params.endpoint_metrics = True
    params.fit_params = False
    params.ctx_shift = False
    if config.get("mode") in ("embedding", "reranking"):
        _pooling_runner(params, config)
    for name, value in (config.get("runtime_settings") or {}).items():
        target = params
        *path, leaf = name.split(".")
        for part in path:
            target = getattr(target, part)
        setattr(target, leaf, value)
    return params


def _pooling_runner(params: Any, config: dict[str, Any]) -> None:
    """An embedding or reranking runner: one whole input per batch, so any input that fits the
    context is evaluated; the pooling given, or the one the model declares. The KV cache is unified:
    with one cache per slot, inputs pooled in the same batch come out different from alone."""
    import xllamacpp

    params.embedding = True
    params.kv_unified = True
    params.n_batch = params.n_ubatch = int(config["context_size"])
    if config.get("pooling") is not None:
        params.pooling_type = xllamacpp.llama_pooling_type(int(config["pooling"]))


def main(argv: list[str]) -> int:
    _die_with_parent()
    config = orjson.loads(argv[1])
    try:
        params = build_params(config)
        import xllamacpp

        server = xllamacpp.Server(params)
    except Exception as exc:  # the reason is on stderr, in llama.cpp's log; the parent reads both
        _announce(FAILED_EVENT, error=str(exc))
        return 1
    _announce(READY_EVENT, url=server.listening_address, pid=os.getpid())
    sys.stdin.buffer.read()
    # Skip interpreter teardown: llama.cpp's threads make a clean shutdown slow and it frees nothing
    # the OS would not.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
