"""One hierarchy of errors. Code below the server raises these; each API dialect maps them to its
own envelope exactly once, at the edge."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "invalid_request", "request_too_large", "unprocessable", "authentication", "permission", "not_found",
    "conflict", "overloaded", "capacity", "engine_failed", "upstream_unavailable", "insufficient_storage",
    "internal",
]
"""What went wrong, independent of any API: the server maps a kind to an HTTP status, each dialect to
its own envelope. Subclasses inherit their parent's kind unless they name their own."""


class ModelRunnerError(Exception):
    """Base of every error modelrunner raises on purpose.

    `retryable` tells clients whether the same request could succeed later; `retry_after_s`, when set,
    says how long to wait.
    """

    kind: ErrorKind = "internal"
    retryable: bool = False
    retry_after_s: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ModelRunnerError):
    """The request itself is wrong: malformed body, missing or out-of-range field."""

    kind: ErrorKind = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnusableSchema(InvalidRequest):
    """The engine cannot turn a JSON schema of the request (a tool's input or the output format) into
    the grammar that constrains decoding; `reason` is the engine's own words."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message, param="tools")
        self.reason = reason or message


class RequestTooLarge(InvalidRequest):
    """The request body exceeds the configured limit."""

    kind: ErrorKind = "request_too_large"


class Unsupported(InvalidRequest):
    """A well-formed request asks for something this runner or model cannot do."""


class UnsupportedArtifact(Unsupported):
    """A model artifact whose format modelrunner cannot read (unknown config media type...)."""

    kind: ErrorKind = "unprocessable"


class ContextOverflow(InvalidRequest):
    """The prompt does not fit in the model's context window."""

    def __init__(self, prompt_tokens: int, context_tokens: int) -> None:
        super().__init__(f"prompt is too long: {prompt_tokens} tokens > {context_tokens} maximum")
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


class AuthenticationFailed(ModelRunnerError):
    """The API key is missing or wrong."""

    kind: ErrorKind = "authentication"


class NotFound(ModelRunnerError):
    """Something named by the request does not exist."""

    kind: ErrorKind = "not_found"


class ModelNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} not found")
        self.name = name


class Conflict(ModelRunnerError):
    """The request conflicts with the current state (a busy runner, a model with several tags)."""

    kind: ErrorKind = "conflict"


class Overloaded(ModelRunnerError):
    """Too many requests right now; the same request may succeed later."""

    kind: ErrorKind = "overloaded"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InsufficientMemory(Overloaded):
    """The model does not fit in the memory budget even after evicting idle runners."""

    kind: ErrorKind = "capacity"


class EngineFailed(ModelRunnerError):
    """The engine could not load a model or failed while generating."""

    kind: ErrorKind = "engine_failed"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ModelLoadFailed(EngineFailed):
    """A model's files could not be loaded (corrupt, truncated, unsupported)."""


class StoreError(ModelRunnerError):
    """The model store could not complete an operation; the store is left unchanged."""


class RunnerUnreachable(ModelRunnerError):
    """No runner answers at the address a client was given (raised by the CLI, never by the server)."""


class RouteUnavailable(Unsupported):
    """The runner answers but lacks the route a client called: an older or partial runner (CLI only)."""


class RegistryUnavailable(ModelRunnerError):
    """A model registry could not be reached or answered with a server error; a retry may succeed."""

    kind: ErrorKind = "upstream_unavailable"
    retryable = True


class InsufficientStorage(StoreError):
    """The disk has no room for a write; the store was left as it was before the operation."""

    kind: ErrorKind = "insufficient_storage"

    def __init__(self, needed_bytes: int, free_bytes: int, detail: str = "") -> None:
        super().__init__(f"no space left on device: needs {_mib(needed_bytes)}, free {_mib(free_bytes)}"
                         + (f"; {detail}" if detail else ""))
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB ({size} bytes)"
class PermissionDenied(ModelRunnerError):
    """The caller may not do this here: a foreign Host or Origin, a cross-site state change, a path
    outside the directories the runner may read, a URL the runner may not fetch."""

    kind: ErrorKind = "permission"
