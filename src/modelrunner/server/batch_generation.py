"""How one Message Batch request is generated: through the same non-streaming Messages path as
`POST /v1/messages` (`complete_message`, a `generation.Generation`), at background priority. The one
place batches meet generation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import SimpleNamespace

from modelrunner.core.errors import EngineFailed, ModelRunnerError
from modelrunner.dialects.anthropic.batches import errored_result, succeeded_result
from modelrunner.dialects.anthropic.errors import error_body
from modelrunner.dialects.anthropic.protocol import MessagesBody
from modelrunner.scheduler.admission import Yielding
from modelrunner.server.routes.anthropic import complete_message
from modelrunner.server.services import Services

logger = logging.getLogger(__name__)


class MessagesBatchHandler:
    """Implements `batches.runner.BatchRequestHandler` for Anthropic Messages params."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def run(self, params_json: bytes, on_preempt: Callable[[], None]) -> tuple[str, bytes]:
        try:
            body = MessagesBody.model_validate_json(params_json)
            message = await complete_message(self._services, body, state=SimpleNamespace(model=body.model),
                                             yielding=Yielding(on_preempt))
        except ModelRunnerError as exc:
            return "errored", errored_result(error_body(exc))
        except Exception as exc:  # a bug must cost one request its result, not stall the batch
            logger.exception("batch request failed unexpectedly")
            failure = EngineFailed("internal error: " + type(exc).__name__)
            return "errored", errored_result(error_body(failure))
        return "succeeded", succeeded_result(message)
