"""Run the real `modelrunner` command in a subprocess, pointed at a test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import make_tiny_store
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf

COMMAND = [sys.executable, "-m", "modelrunner"]


@dataclass
class Cli:
    """The `modelrunner` command with its environment; calling it runs one verb and waits."""

    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, stdin: str | None = None,
                 timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*COMMAND, *args], env=self.env, input=stdin if stdin is not None else "",
                              capture_output=True, text=True, timeout=timeout_s)

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args).stdout)


def cli_env(host: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MODEL_RUNNER_HOST": host, "MODEL_RUNNER_NO_AUTOSTART": "1", **extra}


@pytest.fixture(scope="session")
def cli(server: RunningServer) -> Cli:
    return Cli(cli_env(server.url))


LONG_CONTEXT_TOKENS = 32768


@pytest.fixture(scope="session")
def long_answer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A tiny model with a long context, so an unlimited answer lasts long enough to be interrupted."""
    root = tmp_path_factory.mktemp("long-context")
    gguf = write_tiny_llama_gguf(root / "tiny-long.gguf", context_length=LONG_CONTEXT_TOKENS)
    make_tiny_store(root / "store", gguf)
    with RunningServer(root / "store", root / "server.log",
                       env={"MODEL_RUNNER_CONTEXT_SIZE": str(LONG_CONTEXT_TOKENS)}) as running:
        yield running
