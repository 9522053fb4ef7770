"""Start, watch and stop one worker process."""

from __future__ import annotations

import asyncio
import re
import logging
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

import orjson

from modelrunner.core.errors import ModelLoadFailed
from modelrunner.engines.llamacpp.worker import FAILED_EVENT, READY_EVENT
from modelrunner.engines.llamacpp.worker_log import WorkerLog

logger = logging.getLogger(__name__)

MAX_SOCKET_PATH_BYTES = 100
"""A Unix socket's path must fit in 108 bytes; under a temporary folder deeper than that, the worker
listens on a loopback port instead."""
_LOG_PREFIX = re.compile(r"^[\d.]+ (?P<level>[A-Z]) (?:\w+\s+)?")


class WorkerProcess:
    """A worker process and what it printed. `url` is set once the model is loaded."""

    def __init__(self, process: asyncio.subprocess.Process, label: str, log: WorkerLog,
                 socket_dir: str | None) -> None:
        self._process = process
        self.label = label
        self.url: str | None = None
        self._log = log
        self._socket_dir = socket_dir

    @classmethod
    async def start(cls, config: dict[str, Any], *, label: str, timeout_s: float) -> WorkerProcess:
        socket_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="modelrunner-worker-")  # only we may enter
        socket_path = os.path.join(socket_dir, "worker.sock")
        if len(socket_path.encode()) <= MAX_SOCKET_PATH_BYTES:
            config = {**config, "socket_path": socket_path}
        log_read, log_write = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "modelrunner.engines.llamacpp.worker", orjson.dumps(config).decode(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_write,
                start_new_session=True,
            )
        except BaseException:
            os.close(log_read)
            await asyncio.to_thread(shutil.rmtree, socket_dir, True)
            raise
        finally:
            os.close(log_write)
        worker = cls(process, label, WorkerLog(log_read, label), socket_dir)
        try:
            await asyncio.wait_for(worker._await_ready(config["model_path"]), timeout_s)
        except asyncio.TimeoutError:
            await worker.stop()
            raise ModelLoadFailed(f"loading {label} timed out after {timeout_s:.0f}s") from None
        except BaseException:
            await worker.stop()
            raise
        return worker

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def log_lines(self) -> list[str]:
        """The last lines the worker logged, oldest first."""
        return self._log.lines

    @property
    def is_running(self) -> bool:
        return self._process.returncode is None

    async def wait(self) -> int:
        return await self._process.wait()

    async def _await_ready(self, model_path: str) -> None:
        assert self._process.stdout is not None
        while True:
            line = await self._process.stdout.readline()
            if not line:
                await self._process.wait()
                raise ModelLoadFailed(self._failure_message(model_path, f"the worker exited with status {self._process.returncode}"))
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if event.get("event") == READY_EVENT:
                self.url = event["url"]
                return
            if event.get("event") == FAILED_EVENT:
                await self._process.wait()
                raise ModelLoadFailed(self._failure_message(model_path, event.get("error", "")))

    def _failure_message(self, model_path: str, fallback: str) -> str:
        """The first error lines llama.cpp logged: the root cause comes first, the fallout after. Called
        once the worker has exited, when its last words are all in the log's pipe (which `log_lines` reads)."""
        reasons = []
        for line in self.log_lines:
            prefix = _LOG_PREFIX.match(line)
            if prefix is not None and prefix.group("level") == "E":
                reasons.append(line[prefix.end():].strip())
        detail = "; ".join(list(dict.fromkeys(reasons))[:2]) or fallback
        return f"failed to load {self.label} from {model_path}: {detail}"

    async def stop(self, grace_s: float = 5.0) -> None:
        """Close the worker's stdin (its signal to exit), then escalate to SIGKILL."""
        if self._process.stdin is not None and not self._process.stdin.is_closing():
            self._process.stdin.close()
        if self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), grace_s)
            except asyncio.TimeoutError:
                self.kill()
                await self._process.wait()
        self._log.read_available()
        self._log.close()
        if self._socket_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._socket_dir, True)
            self._socket_dir = None

    def kill(self) -> None:
        if self._process.returncode is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
