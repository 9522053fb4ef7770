"""The state model of a batch and of its requests, as the store keeps them and the routes show them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

IN_PROGRESS = "in_progress"
CANCELING = "canceling"
ENDED = "ended"

SUCCEEDED = "succeeded"
ERRORED = "errored"
CANCELED = "canceled"
EXPIRED = "expired"
OUTCOMES = (SUCCEEDED, ERRORED, CANCELED, EXPIRED)

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_batch_id() -> str:
    """`msgbatch_` and 24 base62 characters, as Anthropic's IDs look."""
    return "msgbatch_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


@dataclass(frozen=True)
class NewRequest:
    """One request of a batch being created: its params are the validated JSON of a Messages body."""

    custom_id: str
    params_json: bytes


@dataclass(frozen=True)
class BatchRecord:
    """One batch; times are Unix seconds. `counts` holds every outcome plus `processing`."""

    id: str
    processing_status: str
    created_at: float
    expires_at: float
    ended_at: float | None
    cancel_initiated_at: float | None
    counts: dict[str, int]

    @property
    def is_ended(self) -> bool:
        return self.processing_status == ENDED


@dataclass(frozen=True)
class PendingRequest:
    """A request without a result yet: what the runner hands to generation."""

    batch_id: str
    index: int
    custom_id: str
    params_json: bytes

    @property
    def key(self) -> tuple[str, int]:
        return (self.batch_id, self.index)
