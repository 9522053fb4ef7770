"""How a sharded GGUF names its files (`X-00001-of-0000N.gguf`): shared by the store, which packages
shards from paths, and the CLI, which uploads them."""

from __future__ import annotations

import re
from pathlib import Path

from modelrunner.core.errors import InvalidRequest

_SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def gguf_shards(first: Path) -> list[Path]:
    """Every shard of a sharded GGUF named `X-00001-of-0000N.gguf`, in order (the file alone otherwise)."""
    match = _SHARD_NAME.match(first.name)
    if match is None:
        return [first]
    count = int(match.group("count"))
    shards = [first.with_name(f"{match.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [str(s) for s in shards if not s.is_file()]
    if missing:
        raise InvalidRequest(f"sharded GGUF {first.name} is incomplete: missing {', '.join(missing)}")
    return shards
