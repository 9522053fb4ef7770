"""What every verb starts from: the settings, and a client of a runner that answers."""

from __future__ import annotations

from modelrunner.cli.autostart import ensure_runner
from modelrunner.cli.client import RunnerClient
from modelrunner.cli.contexts import ContextFile
from modelrunner.core.errors import InvalidRequest
from modelrunner.settings import Settings, read_secret


def load_settings() -> Settings:
    try:
        return Settings.from_environ()
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def connect(*, autostart: bool = True) -> RunnerClient:
    """A client of the runner at MODEL_RUNNER_HOST, else of the context in use; with `autostart`, one is
    started when none answers on loopback."""
    settings = load_settings()
    context = None if settings.runner_host_is_explicit else ContextFile(settings.config_dir).in_use()
    if context is not None:
        api_key = read_secret(context.api_key_env) if context.api_key_env else settings.api_key
        settings = settings.with_overrides(runner_host=context.host)
        client = RunnerClient(context.host, api_key=api_key, ca_cert=context.ca_cert)
    else:
        client = RunnerClient(settings.runner_host, api_key=settings.api_key)
    if autostart:
        ensure_runner(settings, client)
    return client
