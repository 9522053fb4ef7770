"""Local files sent to the runner as blobs, so that `modelrunner package` works without the runner
reading any path: the CLI hashes and uploads each file, then packages by digest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from modelrunner.cli.client import RunnerClient
from modelrunner.core.errors import InvalidRequest

HASH_CHUNK_BYTES = 1024 * 1024
_SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def gguf_shards(first: Path) -> list[Path]:
    """Every shard of a GGUF named `X-00001-of-0000N.gguf`, in order (the file alone otherwise)."""
    match = _SHARD_NAME.match(first.name)
    if match is None:
        return [first]
    count = int(match.group("count"))
    shards = [first.with_name(f"{match.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [str(s) for s in shards if not s.is_file()]
    if missing:
        raise InvalidRequest(f"sharded GGUF {first.name} is incomplete: missing {', '.join(missing)}")
    return shards


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
