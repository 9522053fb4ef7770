"""The one table from error kind to HTTP status, with Anthropic's 529 for a server out of capacity."""

from __future__ import annotations

import pytest

from modelrunner.core import errors
from modelrunner.server.errors import error_document, error_headers, status_for


@pytest.mark.parametrize(("error", "status"), [
    (errors.InvalidRequest("x"), 400), (errors.ContextOverflow(10, 5), 400), (errors.Unsupported("x"), 400),
    (errors.RequestTooLarge("x"), 413), (errors.UnsupportedArtifact("x"), 422),
    (errors.AuthenticationFailed("x"), 401), (errors.ModelNotFound("m"), 404), (errors.Conflict("x"), 409),
    (errors.Overloaded("x"), 429), (errors.InsufficientMemory("x"), 503), (errors.EngineFailed("x"), 500),
    (errors.StoreError("x"), 500), (errors.RegistryUnavailable("x"), 502),
])
def test_each_kind_has_one_status(error: errors.ModelRunnerError, status: int) -> None:
    assert status_for(error) == status == status_for(error, "ollama")


def test_anthropic_says_529_when_out_of_capacity_and_keeps_the_rest() -> None:
    assert status_for(errors.InsufficientMemory("no room"), "anthropic") == 529
    assert status_for(errors.Overloaded("busy"), "anthropic") == 429
    body = error_document("anthropic", errors.InsufficientMemory("no room"), "req_1")
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "no room"}, "request_id": "req_1"}


def test_envelopes_by_api() -> None:
    missing = errors.ModelNotFound("ai/x")
    assert error_document("ollama", missing) == {"error": "model 'ai/x' not found"}
    openai = error_document("openai", missing)["error"]
    assert (openai["type"], openai["code"], openai["param"]) == ("not_found_error", "ModelNotFound", None)
    assert error_document("openai", errors.InvalidRequest("bad", param="messages"))["error"]["param"] == "messages"


def test_retry_headers() -> None:
    assert error_headers(errors.Overloaded("busy", retry_after_s=2.4), 429) == {"retry-after": "2"}
    assert error_headers(errors.EngineFailed("x"), 500) == {"x-should-retry": "false"}
    assert error_headers(errors.EngineFailed("x", retryable=True), 500) == {}
