"""Batches and their requests in one SQLite file in the model store, in write-ahead-log mode: each
result is committed as its request finishes, so a crash (even `kill -9`) keeps every finished result
and leaves the unfinished requests without one, to run again. SQLite calls run on one thread of
their own, off the event loop, in the order they were made."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

from modelrunner.batches.records import (
    CANCELING,
    ENDED,
    IN_PROGRESS,
    OUTCOMES,
    BatchRecord,
    NewRequest,
    PendingRequest,
    new_batch_id,
)
from modelrunner.core.errors import InvalidRequest, NotFound

FILE_NAME = "modelrunner-batches.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL,
    cancel_initiated_at REAL,
    total INTEGER NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0,
    errored INTEGER NOT NULL DEFAULT 0,
    canceled INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    batch_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    params BLOB,
    outcome TEXT,
    result BLOB,
    PRIMARY KEY (batch_seq, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS unfinished_requests ON requests (batch_seq, idx) WHERE outcome IS NULL;
"""
_BATCH_COLUMNS = ("id, status, created_at, expires_at, ended_at, cancel_initiated_at, total, "
                  "succeeded, errored, canceled, expired")

T = TypeVar("T")


def _record(row: tuple[Any, ...]) -> BatchRecord:
    (batch_id, status, created_at, expires_at, ended_at, cancel_initiated_at, total,
     succeeded, errored, canceled, expired) = row
    counts = {"succeeded": succeeded, "errored": errored, "canceled": canceled, "expired": expired}
    counts["processing"] = total - sum(counts.values())
    return BatchRecord(id=batch_id, processing_status=status, created_at=created_at, expires_at=expires_at,
                       ended_at=ended_at, cancel_initiated_at=cancel_initiated_at, counts=counts)


class BatchStore:
    """Every method is a coroutine whose SQLite work runs on the store's own thread."""

    def __init__(self, root: Path) -> None:
        self.path = root / FILE_NAME
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-store")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        await self._run(self._close)
        self._thread.shutdown(wait=True)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a process crash loses no committed result
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        assert db is not None, "BatchStore.open() first"
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _seq_of(self, db: sqlite3.Connection, batch_id: str) -> int:
        row = db.execute("SELECT seq FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise NotFound(f"no message batch {batch_id!r}")
        return int(row[0])

    def _get(self, db: sqlite3.Connection, batch_id: str) -> BatchRecord:
        row = db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise NotFound(f"no message batch {batch_id!r}")
        return _record(row)

    async def create(self, requests: list[NewRequest], *, now: float, expires_at: float) -> BatchRecord:
        return await self._run(self._create, requests, now, expires_at)

    def _create(self, requests: list[NewRequest], now: float, expires_at: float) -> BatchRecord:
        batch_id = new_batch_id()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO batches (id, status, created_at, expires_at, total) VALUES (?, ?, ?, ?, ?)",
                (batch_id, IN_PROGRESS, now, expires_at, len(requests)))
            seq = cursor.lastrowid
            db.executemany("INSERT INTO requests (batch_seq, idx, custom_id, params) VALUES (?, ?, ?, ?)",
                           ((seq, index, request.custom_id, request.params_json)
                            for index, request in enumerate(requests)))
            return self._get(db, batch_id)

    async def get(self, batch_id: str) -> BatchRecord:
        return await self._run(self._get_now, batch_id)

    def _get_now(self, batch_id: str) -> BatchRecord:
        assert self._db is not None
        return self._get(self._db, batch_id)

    async def page(self, *, limit: int, before_id: str | None = None,
                   after_id: str | None = None) -> tuple[list[BatchRecord], bool]:
        """Newest first. `after_id`: the page of older batches after it; `before_id`: of newer ones
        before it. Returns the page and whether more lie beyond it in that direction."""
        return await self._run(self._page, limit, before_id, after_id)

    def _page(self, limit: int, before_id: str | None, after_id: str | None) -> tuple[list[BatchRecord], bool]:
        db = self._db
        assert db is not None
        if before_id is not None:
            seq = self._cursor_seq(db, before_id, "before_id")
            rows = db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE seq > ? ORDER BY seq ASC LIMIT ?",
                              (seq, limit + 1)).fetchall()
            return [_record(row) for row in reversed(rows[:limit])], len(rows) > limit
        if after_id is not None:
            seq = self._cursor_seq(db, after_id, "after_id")
            rows = db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                              (seq, limit + 1)).fetchall()
        else:
            rows = db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY seq DESC LIMIT ?",
                              (limit + 1,)).fetchall()
        return [_record(row) for row in rows[:limit]], len(rows) > limit

    def _cursor_seq(self, db: sqlite3.Connection, batch_id: str, param: str) -> int:
        try:
            return self._seq_of(db, batch_id)
        except NotFound:
            raise InvalidRequest(f"{param}: no message batch {batch_id!r} to page from", param=param) from None

    async def unfinished(self, *, limit: int, now: float, skip: Collection[tuple[str, int]]) -> list[PendingRequest]:
        """The oldest requests without a result in batches still in progress and not expired, oldest
        batch first, leaving out those in `skip` (already running)."""
        return await self._run(self._unfinished, limit, now, skip)

    def _unfinished(self, limit: int, now: float, skip: Collection[tuple[str, int]]) -> list[PendingRequest]:
        db = self._db
        assert db is not None
        rows = db.execute(
            "SELECT b.id, r.idx, r.custom_id, r.params FROM batches b JOIN requests r ON r.batch_seq = b.seq "
            "WHERE b.status = ? AND b.expires_at > ? AND r.outcome IS NULL ORDER BY b.seq, r.idx LIMIT ?",
            (IN_PROGRESS, now, limit + len(skip))).fetchall()
        pending = [PendingRequest(batch_id=row[0], index=row[1], custom_id=row[2], params_json=row[3])
                   for row in rows if (row[0], row[1]) not in skip]
        return pending[:limit]

    async def record_result(self, batch_id: str, index: int, outcome: str, result_json: bytes,
                            *, now: float) -> bool:
        """Store one request's result, once: False if it already had one (or the batch is gone). Ends
        the batch when this was its last request."""
        return await self._run(self._record_result, batch_id, index, outcome, result_json, now)

    def _record_result(self, batch_id: str, index: int, outcome: str, result_json: bytes, now: float) -> bool:
        assert outcome in OUTCOMES
        with self._transaction() as db:
            try:
                seq = self._seq_of(db, batch_id)
            except NotFound:
                return False
            changed = db.execute(
                "UPDATE requests SET outcome = ?, result = ?, params = NULL "
                "WHERE batch_seq = ? AND idx = ? AND outcome IS NULL",
                (outcome, result_json, seq, index)).rowcount
            if changed:
                db.execute(f"UPDATE batches SET {outcome} = {outcome} + 1 WHERE seq = ?", (seq,))
                self._end_if_done(db, seq, now)
            return bool(changed)

    def _end_if_done(self, db: sqlite3.Connection, seq: int, now: float) -> None:
        db.execute(f"UPDATE batches SET status = '{ENDED}', ended_at = ? WHERE seq = ? AND status != '{ENDED}' "
                   "AND succeeded + errored + canceled + expired = total", (now, seq))

    async def cancel(self, batch_id: str, *, now: float) -> BatchRecord:
        """Mark a batch in progress as canceling (the runner settles it); other states are left as they are."""
        return await self._run(self._cancel, batch_id, now)

    def _cancel(self, batch_id: str, now: float) -> BatchRecord:
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = ?, cancel_initiated_at = ? WHERE id = ? AND status = ?",
                       (CANCELING, now, batch_id, IN_PROGRESS))
            return self._get(db, batch_id)

    async def unended(self) -> list[BatchRecord]:
        return await self._run(self._unended)

    def _unended(self) -> list[BatchRecord]:
        assert self._db is not None
        rows = self._db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE status != ? ORDER BY seq",
                                (ENDED,)).fetchall()
        return [_record(row) for row in rows]

    async def settle(self, batch_id: str, outcome: str, result_json: bytes, *, now: float,
                     running: Collection[int]) -> tuple[BatchRecord, int]:
        """Give every request without a result, except those `running`, the same result (canceled or
        expired), and end the batch if nothing is left. Returns the batch and how many were settled."""
        return await self._run(self._settle, batch_id, outcome, result_json, now, running)

    def _settle(self, batch_id: str, outcome: str, result_json: bytes, now: float,
                running: Collection[int]) -> tuple[BatchRecord, int]:
        assert outcome in OUTCOMES
        with self._transaction() as db:
            seq = self._seq_of(db, batch_id)
            skip = sorted(running)
            placeholders = ",".join("?" * len(skip))
            changed = db.execute(
                "UPDATE requests SET outcome = ?, result = ?, params = NULL "
                f"WHERE batch_seq = ? AND outcome IS NULL AND idx NOT IN ({placeholders})",
                (outcome, result_json, seq, *skip)).rowcount
            db.execute(f"UPDATE batches SET {outcome} = {outcome} + ? WHERE seq = ?", (changed, seq))
            self._end_if_done(db, seq, now)
            return self._get(db, batch_id), changed

    async def results(self, batch_id: str, *, after_index: int, limit: int) -> list[tuple[int, str, bytes]]:
        """`(index, custom_id, result JSON)` of finished requests, in request order, after `after_index`."""
        return await self._run(self._results, batch_id, after_index, limit)

    def _results(self, batch_id: str, after_index: int, limit: int) -> list[tuple[int, str, bytes]]:
        db = self._db
        assert db is not None
        seq = self._seq_of(db, batch_id)
        return db.execute("SELECT idx, custom_id, result FROM requests WHERE batch_seq = ? AND idx > ? "
                          "AND outcome IS NOT NULL ORDER BY idx LIMIT ?", (seq, after_index, limit)).fetchall()

    async def delete(self, batch_id: str) -> None:
        """Delete an ended batch and its results. One still processing is refused as an invalid request
        (400, as Anthropic's error table has no 409)."""
        await self._run(self._delete, batch_id)

    def _delete(self, batch_id: str) -> None:
        with self._transaction() as db:
            record = self._get(db, batch_id)
            if not record.is_ended:
                raise InvalidRequest(f"message batch {batch_id} is still {record.processing_status}: "
                               "cancel it and wait for it to end before deleting it")
            self._delete_seq(db, self._seq_of(db, batch_id))

    @staticmethod
    def _delete_seq(db: sqlite3.Connection, seq: int) -> None:
        db.execute("DELETE FROM requests WHERE batch_seq = ?", (seq,))
        db.execute("DELETE FROM batches WHERE seq = ?", (seq,))

    async def purge_ended_before(self, cutoff: float) -> int:
        """Delete batches that ended before `cutoff` (Unix seconds), with their results."""
        return await self._run(self._purge, cutoff)

    def _purge(self, cutoff: float) -> int:
        with self._transaction() as db:
            seqs = [row[0] for row in db.execute("SELECT seq FROM batches WHERE status = ? AND ended_at < ?",
                                                 (ENDED, cutoff)).fetchall()]
            for seq in seqs:
                self._delete_seq(db, seq)
        return len(seqs)
