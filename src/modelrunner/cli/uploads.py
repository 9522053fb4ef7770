"""Local files sent to the runner as blobs, so that `modelrunner package` works without the runner
reading any path: the CLI hashes and uploads each file, then packages by digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelrunner.cli.client import RunnerClient

HASH_CHUNK_BYTES = 1024 * 1024
def sha256_digest(file: Path) -> str:
    hasher = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def upload(client: RunnerClient, file: Path) -> dict[str, str]:
    """The file as a blob the runner holds (sent only if it lacks it), named as `/models/package` takes it."""
    digest = sha256_digest(file)
    if not client.has_blob(digest):
        client.upload_blob(digest, file)
    return {"digest": digest, "name": file.name}
