"""Runs one of this folder's checks with the installed TypeScript SDK against a server, and returns the
JSON report it prints."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import RunningServer

HERE = Path(__file__).parent
SDK = HERE / "node_modules" / "@anthropic-ai" / "sdk"


def run_sdk_check(server: RunningServer, script: str, model: str = "ai/tiny") -> dict:
    if shutil.which("node") is None or not SDK.exists():
        pytest.fail("the TypeScript SDK is not installed: run scripts/setup.sh --test (needs node and npm)")
    done = subprocess.run(["node", str(HERE / script), server.url, model], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
