"""`modelrunner serve`: run the server in the foreground."""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn

from modelrunner.settings import Settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class RunnerServer(uvicorn.Server):
    """uvicorn's server, telling the app as soon as a signal asks it to stop."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        from modelrunner.server.app import begin_shutdown

        begin_shutdown(self.config.app)
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> None:
    from modelrunner.server.app import create_app

    configure_logging(settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),  # requests in flight may finish
    )
    RunnerServer(config).run()
