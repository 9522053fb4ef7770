"""Where the command looks for a runner, and when it may start one."""

from __future__ import annotations

from modelrunner.settings import Settings


def test_default_host_is_the_serve_default() -> None:
    assert Settings.from_environ({}).runner_host == "http://127.0.0.1:12434"


def test_default_host_follows_model_runner_port() -> None:
    assert Settings.from_environ({"MODEL_RUNNER_PORT": "9000"}).runner_host == "http://127.0.0.1:9000"


def test_host_without_scheme_gets_http() -> None:
    settings = Settings.from_environ({"MODEL_RUNNER_HOST": "10.0.0.5:12434/", "MODEL_RUNNER_PORT": "9000"})
    assert settings.runner_host == "http://10.0.0.5:12434"


def test_https_host_is_kept() -> None:
    assert Settings.from_environ({"MODEL_RUNNER_HOST": "https://runner.example"}).runner_host == "https://runner.example"


def test_autostart_opt_out() -> None:
    assert Settings.from_environ({}).autostart is True
    assert Settings.from_environ({"MODEL_RUNNER_NO_AUTOSTART": "0"}).autostart is True
    assert Settings.from_environ({"MODEL_RUNNER_NO_AUTOSTART": "1"}).autostart is False
