"""The controller's durable local queue of finished call records (one SQLite file).

A record is written here before anything tries to deliver it, and removed only once the
bridge has stored it. So a record survives the bridge being down for as long as it takes,
and a controller restart: the next controller delivers what the last one left. A record
the bridge refuses for good (our bug: a 4xx, a conflicting record with the same id) is kept
as ``dead`` with its error, never deleted, for an operator to look at.

One row per ``call_id``: putting a record whose call is spooled already changes nothing, so
a record is queued at most once however often it is handed in. Times are POSIX seconds.

The file is opened in WAL mode with ``synchronous=NORMAL``: a commit survives the process
crashing (not the machine losing power mid-commit), and costs no fsync on the call path.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from line311.db.engine import private_sqlite_file

__all__ = ["RecordSpool", "SpooledRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    call_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS ix_records_state_next ON records (state, next_attempt_at);
"""


_PAYLOAD = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
"""Compact, keys sorted (the text the stdlib's ``json.dumps(separators=(",", ":"),
sort_keys=True)`` wrote, but for non-ASCII written as UTF-8, not ``\\u`` escapes); a
datetime is refused (``TypeError``) as before rather than written; a NaN is written as
``null`` (httpx refused to send one, so such a record never reached the bridge before)."""


def _load(payload: str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:  # a NaN or Infinity an older version wrote: read as then
        return json.loads(payload)


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    call_id: str
    record: dict[str, Any]
    attempts: int
    created_at: float


class RecordSpool:
    """See the module docstring. Safe to share between threads (one lock)."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):  # callers' hashes and IVR paths: private, like the database
            private_sqlite_file(path)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, in one transaction: committed, or rolled back
        if the block raises."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(self, record: Mapping[str, Any], now: float) -> bool:
        """Queue ``record`` (due at once); False when its ``call_id`` is queued already."""
        call_id, payload = self.encode(record)
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO records (call_id, payload, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?)",
                (call_id, payload, now, now),
            )
            return cur.rowcount == 1

    @staticmethod
    def encode(record: Mapping[str, Any]) -> tuple[str, str]:
        """``(call_id, payload)`` as `put` stores them; ``KeyError`` without a ``call_id``,
        ``TypeError`` for a value that is not JSON."""
        return str(record["call_id"]), orjson.dumps(record, option=_PAYLOAD).decode()

    def put_many(self, rows: Sequence[tuple[str, str, float]]) -> int:
        """Queue each encoded ``(call_id, payload, now)`` (see `encode`) in one transaction,
        as `put` does one; how many were new (a call queued already, or twice in ``rows``,
        is not counted again: the first one stays)."""
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO records (call_id, payload, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?)",
                [(call_id, payload, now, now) for call_id, payload, now in rows],
            )
            return db.total_changes - before

    def due(self, now: float, limit: int = 100) -> list[SpooledRecord]:
        """Pending records whose next attempt is due, longest-due first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT call_id, payload, attempts, created_at FROM records"
                " WHERE state = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, created_at, call_id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [SpooledRecord(r[0], _load(r[1]), r[2], r[3]) for r in rows]

    def settle(self, delivered: Sequence[str], dead: Sequence[tuple[str, str]]) -> None:
        """A batch's outcome in one transaction: ``delivered`` records go, ``dead`` ones
        (``(call_id, error)``) are kept for an operator."""
        with self._transaction() as db:
            db.executemany("DELETE FROM records WHERE call_id = ?", [(c,) for c in delivered])
            db.executemany(
                "UPDATE records SET state = 'dead', attempts = attempts + 1, last_error = ?"
                " WHERE call_id = ?",
                [(error[:500], c) for c, error in dead],
            )

    def retry_many(self, retries: Sequence[tuple[str, float]], error: str) -> None:
        """Schedule each ``(call_id, next_attempt_at)`` again, in one transaction."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE records SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ? WHERE call_id = ?",
                [(at, error[:500], c) for c, at in retries],
            )

    def revive(self, now: float) -> int:
        """Make every dead record pending again (after the cause is fixed); how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE records SET state = 'pending', next_attempt_at = ? WHERE state = 'dead'",
                (now,),
            )
            return cur.rowcount

    def next_due(self) -> float | None:
        """When the next pending record is due, or None when nothing is pending."""
        with self._lock:
            (when,) = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM records WHERE state = 'pending'"
            ).fetchone()
        return None if when is None else float(when)

    def counts(self) -> dict[str, int]:
        """Records by state (``pending``, ``dead``)."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM records GROUP BY state")
            found = dict(rows.fetchall())
        return {"pending": found.get("pending", 0), "dead": found.get("dead", 0)}

    def last_error(self, call_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT last_error FROM records WHERE call_id = ?", (call_id,)
            ).fetchone()
        return None if row is None else row[0]
