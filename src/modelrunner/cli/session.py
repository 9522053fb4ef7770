"""What every verb starts from: the settings, and a client of a runner that answers."""

from __future__ import annotations

from modelrunner.cli.autostart import ensure_runner
from modelrunner.cli.client import RunnerClient
from modelrunner.core.errors import InvalidRequest
from modelrunner.settings import Settings


def load_settings() -> Settings:
    try:
        return Settings.from_environ()
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def connect(*, autostart: bool = True) -> RunnerClient:
    """A client of the runner at MODEL_RUNNER_HOST; with `autostart`, one is started when none answers."""
    settings = load_settings()
    client = RunnerClient(settings.runner_host, api_key=settings.api_key)
    if autostart:
        ensure_runner(settings, client)
    return client
