"""Start, watch and stop one worker process."""

from __future__ import annotations

import asyncio
import collections
import re
import logging
import os
import signal
import sys
from typing import Any

import orjson

from modelrunner.core.errors import ModelLoadFailed
from modelrunner.engines.llamacpp.worker import FAILED_EVENT, READY_EVENT

logger = logging.getLogger(__name__)

LOG_LINES_KEPT = 400
_LOG_READ_BYTES = 64 * 1024
_LOG_PREFIX = re.compile(r"^[\d.]+ (?P<level>[A-Z]) (?:\w+\s+)?")


class WorkerProcess:
    """A worker process and what it printed. `url` is set once the model is loaded."""

    def __init__(self, process: asyncio.subprocess.Process, label: str) -> None:
        self._process = process
        self.label = label
        self.url: str | None = None
        self.log_lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(cls, config: dict[str, Any], *, label: str, timeout_s: float) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "modelrunner.engines.llamacpp.worker", orjson.dumps(config).decode(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        worker = cls(process, label)
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
                await self._stderr_task
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
                await self._stderr_task
                raise ModelLoadFailed(self._failure_message(model_path, event.get("error", "")))

    def _failure_message(self, model_path: str, fallback: str) -> str:
        """The first error lines llama.cpp logged: the root cause comes first, the fallout after."""
        reasons = []
        for line in self.log_lines:
            prefix = _LOG_PREFIX.match(line)
            if prefix is not None and prefix.group("level") == "E":
                reasons.append(line[prefix.end():].strip())
        detail = "; ".join(list(dict.fromkeys(reasons))[:2]) or fallback
        return f"failed to load {self.label} from {model_path}: {detail}"

    async def _drain_stderr(self) -> None:
        """Keep the worker's log lines, read in blocks: llama.cpp writes several lines per request, and
        reading them one await at a time cost the server as much as a request's own parsing."""
        assert self._process.stderr is not None
        pending = b""
        is_debug = logger.isEnabledFor(logging.DEBUG)
        while block := await self._process.stderr.read(_LOG_READ_BYTES):
            *lines, pending = (pending + block).split(b"\n")
            if len(pending) > _LOG_READ_BYTES:  # a line without end is kept in pieces, never unbounded
                lines.append(pending)
                pending = b""
            self._keep(lines, is_debug)
        if pending:
            self._keep([pending], is_debug)

    def _keep(self, lines: list[bytes], is_debug: bool) -> None:
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            self.log_lines.append(text)
            if is_debug:
                logger.debug("[%s] %s", self.label, text)

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
        if not self._stderr_task.done():
            self._stderr_task.cancel()

    def kill(self) -> None:
        if self._process.returncode is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
