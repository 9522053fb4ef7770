"""Full disks: telling an out-of-space failure from other I/O errors, and saying how much was
needed and how much is free, so the answer is a 507 a person can act on instead of a bare OSError."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from modelrunner.core.errors import InsufficientStorage

_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_out_of_space(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the disk or a quota running out of room."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno in _OUT_OF_SPACE:
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if os.path.exists(candidate):
            return shutil.disk_usage(candidate).free
    return 0


def out_of_space(path: Path, needed_bytes: int, detail: str = "") -> InsufficientStorage:
    return InsufficientStorage(needed_bytes, free_bytes(path), detail)
