"""Which files on the runner's machine an HTTP caller may name, and what packaged files must contain.

An HTTP caller is anyone who can reach the port (a web page, another user): naming `/etc/shadow` as a
license must never put it in the store, where export or push would carry it away. So a path is read
only inside the directories listed in MODEL_RUNNER_PACKAGE_DIRS (none by default; the CLI uploads the
files instead), taken literally (no `~`), resolved with its symlinks, and only as a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from modelrunner.core.errors import InvalidRequest, PermissionDenied

MAX_TEXT_FILE_BYTES = 1024 * 1024


def allowed_file(path_text: str, allowed_dirs: tuple[Path, ...]) -> Path:
    """The real path of `path_text` if it is a regular file inside one of `allowed_dirs`. Blocking."""
    if not allowed_dirs:
        raise PermissionDenied(
            "this runner reads no local paths for HTTP callers: upload the files (the CLI's `modelrunner package` "
            "does), or list the directories it may read in MODEL_RUNNER_PACKAGE_DIRS")
    if not os.path.isabs(path_text):
        raise PermissionDenied(f"{path_text!r} is not an absolute path (nothing is expanded, `~` included)")
    real = Path(os.path.realpath(path_text))
    roots = [Path(os.path.realpath(folder)) for folder in allowed_dirs]
    if not any(real == root or root in real.parents for root in roots):
        raise PermissionDenied(
            f"{path_text} is outside the directories this runner may read (symlinks are followed before the check); "
            "add its directory to MODEL_RUNNER_PACKAGE_DIRS")
    try:
        mode = real.stat().st_mode
    except OSError:
        raise InvalidRequest(f"{path_text} is not a readable file") from None
    if not stat.S_ISREG(mode):
        raise InvalidRequest(f"{path_text} is not a readable file (only regular files are read)")
    return real


def check_text_file(path: Path, role: str, name: str) -> None:
    """Licenses and chat templates are UTF-8 text of a bounded size. Blocking."""
    with path.open("rb") as handle:
        data = handle.read(MAX_TEXT_FILE_BYTES + 1)
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise InvalidRequest(f"{role} {name} is larger than {MAX_TEXT_FILE_BYTES // 1024} KiB")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{role} {name} is not UTF-8 text") from None
