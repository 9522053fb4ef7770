"""Small filesystem primitives the store is built on: atomic writes and content hashing. A write
that finds the disk full removes what it started and raises InsufficientStorage (a 507)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from modelrunner.store.disk_space import is_out_of_space, out_of_space

HASH_CHUNK_BYTES = 4 * 1024 * 1024


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the new one, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        if is_out_of_space(exc):
            raise out_of_space(path.parent, len(data), f"{path.name} was not written") from exc
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if is_out_of_space(exc):
            raise out_of_space(path.parent, len(data), f"{path.name} was not written") from exc
        raise


def sha256_of_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in large chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (instant, no extra space), copying when linking is impossible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: two writers (threads or runners) linking the same target must not share one.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_out_of_space(exc):
            raise out_of_space(target.parent, source.stat().st_size, f"{source.name} was not added") from exc
        raise
