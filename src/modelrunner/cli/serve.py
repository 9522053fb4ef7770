"""`modelrunner serve`: run the server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn

from modelrunner.settings import Settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def check_tls_files(settings: Settings) -> None:
    """Both TLS files or neither, and both readable: a typo must not start a plain-HTTP server."""
    cert, key = settings.tls_cert_path, settings.tls_key_path
    if (cert is None) != (key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise ValueError(f"{path}: no such file")


# After the grace period our streams end themselves with an error event; uvicorn cancels what is left
# this much later, so that those last events are sent before the connections close.
CANCEL_AFTER_GRACE_S = 2


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app's shutdown drain when the stop signal arrives."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_exit)
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> None:
    from modelrunner.server.app import begin_shutdown, create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    grace_s = max(0.0, settings.shutdown_grace_s)
    config = uvicorn.Config(
        app,
        host=settings.bind_host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the edge writes one line per request, with its tokens
        proxy_headers=False,  # no proxy is trusted to rewrite a caller's address or scheme
        timeout_graceful_shutdown=max(1, round(grace_s)) + CANCEL_AFTER_GRACE_S,  # requests in flight may finish
        ssl_certfile=str(settings.tls_cert_path) if settings.tls_cert_path else None,
        ssl_keyfile=str(settings.tls_key_path) if settings.tls_key_path else None,
    )

    def on_exit() -> None:
        app.state.shutdown_drain.begin(grace_s)
        begin_shutdown(app)  # the endless feeds end now, or they would hold shutdown up for its whole grace

    DrainingServer(config, on_exit=on_exit).run()
