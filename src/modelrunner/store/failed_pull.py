"""What a failed pull does with its partial files, and what it answers: one rule for registry and
Hugging Face pulls. Only `keep_partial` True keeps them, for the next pull to resume; by default (None
or False) a failure removes them, so a failed pull never leaves the disk fuller than it found it. A
runner killed mid-pull cannot clean up: the next pull resumes what it left."""

from __future__ import annotations

from pathlib import Path

from modelrunner.core.errors import ModelRunnerError
from modelrunner.store.disk_space import is_out_of_space, out_of_space


def removes_partials(keep_partial: bool | None, exc: BaseException) -> bool:
    return keep_partial is not True


def failed_pull_error(exc: Exception, *, removed: bool, root: Path, needed_bytes: int, display: str) -> Exception:
    """The error to answer, saying what became of the partial files: a 507 with the space needed and
    free when the disk is full, else `exc` with the outcome added. Blocking (reads the free space)."""
    outcome = ("its partial download was removed" if removed
               else "its partial download was kept: pulling again resumes it")
    if is_out_of_space(exc):
        return out_of_space(root, needed_bytes, f"the pull of {display} stopped and {outcome}")
    if isinstance(exc, ModelRunnerError):
        exc.message = f"{exc.message}; {outcome}"
        exc.args = (exc.message,)
    return exc
