"""`modelrunner serve`: run the server in the foreground."""

from __future__ import annotations

import logging

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
        ssl_certfile=str(settings.tls_cert_path) if settings.tls_cert_path else None,
        ssl_keyfile=str(settings.tls_key_path) if settings.tls_key_path else None,
    )
    uvicorn.Server(config).run()
