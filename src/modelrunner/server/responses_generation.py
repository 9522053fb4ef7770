"""The Responses API's way into generation: its dialect writes the conversation in the Messages shape,
which the Anthropic dialect validates and turns into the ToolingRequest every API hands to
`generation/` (tools planned there for the runner's capabilities; structured output as an output
format). Image URLs are inlined or refused here by the runner's policy, as on the other routes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolingRequest
from modelrunner.dialects.anthropic.protocol import MessagesBody
from modelrunner.dialects.anthropic.translate import prepare, to_tooling_request
from modelrunner.scheduler.runner_slot import ResolvedModel
from modelrunner.server.bodies import describe_validation_error
from modelrunner.server.image_urls import ImageUrlPolicy, with_image_urls_inlined
from modelrunner.server.services import Services
from modelrunner.store import media_types


async def tooling_request(services: Services, document: dict[str, Any]) -> tuple[ToolingRequest, ResolvedModel]:
    """Validate the Messages-shaped conversation and resolve the model (once) before anything is sent."""
    try:
        body = MessagesBody.model_validate(document)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc), param="input") from None
    stored = await services.scheduler.resolve(body.model)
    tooling = to_tooling_request(prepare(body, accepts_images=bool(stored.layers_of(media_types.MMPROJ))))
    policy = ImageUrlPolicy.from_settings(services.settings)
    return await with_image_urls_inlined(tooling, policy), stored
