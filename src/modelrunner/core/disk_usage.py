"""How many bytes a folder takes on disk: the store's blobs, an engine's installed files."""

from __future__ import annotations

import os
from pathlib import Path


def directory_size_bytes(root: Path) -> int:
    """Bytes of the regular files under `root`, each inode once (bundles hard-link the blobs)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total
