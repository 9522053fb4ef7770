"""With no runner at MODEL_RUNNER_HOST, `run` starts one in the background and it stays up."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import psutil

from modelrunner.store.store import ModelStore
from tests.cli.conftest import Cli, cli_env
from tests.conftest import TINY_MODEL
from tests.support.server import free_port

STARTED = re.compile(r"started `modelrunner serve` in the background \(pid (\d+), log (\S+)\)")


def stop(pid: int) -> None:
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    process.terminate()
    try:
        process.wait(30)
    except psutil.TimeoutExpired:
        process.kill()


def test_run_starts_a_runner_that_stays_reachable(tiny_store: ModelStore, tmp_path: Path) -> None:
    store = shutil.copytree(tiny_store.root, tmp_path / "store")
    host = f"http://127.0.0.1:{free_port()}"
    cli = Cli(cli_env(host, MODELS_PATH=str(store), MODEL_RUNNER_NO_AUTOSTART="0", MODEL_RUNNER_NO_DEFAULT_MODEL="1",
                      MODEL_RUNNER_THREADS="1", MODEL_RUNNER_CONTEXT_SIZE="2048"))
    result = cli("run", TINY_MODEL, "hello", "--max-tokens", "4")
    started = STARTED.search(result.stderr)
    assert started, result.stderr
    pid = int(started.group(1))
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
        assert result.stderr.count("\n") == 1
        assert Path(started.group(2)) == tmp_path / "modelrunner-serve.log"
        assert httpx.get(host + "/version").json()["version"]
        assert psutil.pid_exists(pid)

        again = cli.ok("list", "-q")
        assert "started" not in again.stderr
        assert again.stdout.strip()
    finally:
        stop(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
