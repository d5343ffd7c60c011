"""The call-record repository: idempotent intake and keyset-paginated queries.

Theory of operation
-------------------
The controller may send the same finished call more than once (it retries after a timeout
whose response was lost; later, the outbox redelivers after a crash). ``call_id`` is the
primary key, so the *database* decides races: `CallRepository.add_call` tries the INSERT and,
on a key collision, reads the stored row and compares content. Same content (timestamps
compared as instants, ``received_at`` ignored) → `AddOutcome.DUPLICATE`, nothing written;
different content → `AddOutcome.CONFLICT`, nothing written.

Listing is newest first, ordered by ``(started_at, call_id)`` descending, and paginated with
an opaque keyset cursor (the last row's sort key), so pages stay stable while calls arrive
and cost the same at page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.errors import DbError, DbUnavailable
from line311.db.models import CallRow
from line311.db.outbox import OutboxKind, enqueue
from line311.db.sqltools import insert_ignoring_conflict

__all__ = [
    "MAX_PAGE",
    "AddOutcome",
    "AddResult",
    "Call",
    "CallFilter",
    "CallPage",
    "CallRepository",
    "InvalidCursor",
]

MAX_PAGE = 1000


class InvalidCursor(DbError):
    """A pagination cursor that this code did not produce."""


@dataclass(frozen=True, slots=True)
class Call:
    """A finished call as stored. No caller number: ``caller_hash`` only."""

    call_id: str
    dialed_number: str
    caller_hash: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    outcome: str
    language: str
    queue: str | None
    agent_id: str | None
    path: Any
    received_at: datetime | None = None

    def same_content(self, other: Call) -> bool:
        """True when both describe the same call (``received_at`` is not content)."""
        return all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name != "received_at"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, datetimes as ISO-8601 with offset."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


class AddOutcome(enum.Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class AddResult:
    outcome: AddOutcome
    stored: Call
    """The record now in the database (the earlier one for DUPLICATE / CONFLICT)."""


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Query filters; ``start`` is inclusive, ``end`` exclusive, both on ``started_at``."""

    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None
    queue: str | None = None
    agent: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class CallPage:
    items: list[Call]
    next_cursor: str | None


def _to_call(row: CallRow) -> Call:
    return Call(
        call_id=row.call_id,
        dialed_number=row.dialed_number,
        caller_hash=row.caller_hash,
        started_at=row.started_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        language=row.language,
        queue=row.queue,
        agent_id=row.agent_id,
        path=row.path,
        received_at=row.received_at,
    )


def encode_cursor(started_at: datetime, call_id: str) -> str:
    raw = json.dumps([started_at.astimezone(UTC).isoformat(), call_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        started, call_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(started)
        if when.tzinfo is None or not isinstance(call_id, str):
            raise ValueError("bad cursor content")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}") from exc
    return when, call_id


class CallRepository:
    """Reads and writes call records through a session factory (one session per call)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        forward: bool = False,
    ) -> None:
        """``forward``: also write each new call to the outbox (forwarding to a CRM)."""
        self._sessions = sessions
        self._clock = clock
        self._forward = forward

    def add_call(self, record: Call) -> AddResult:
        """Store ``record`` unless a call with its id exists (see the module docstring).

        One round trip on the hot path: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
        (PostgreSQL and SQLite alike), plus the outbox row in the same transaction when
        forwarding is on. Only a repeat reads the stored row back.
        """
        received = self._clock()
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        values["received_at"] = received
        try:
            with self._sessions.begin() as session:
                stmt = insert_ignoring_conflict(session, CallRow, values, ["call_id"])
                created = session.execute(stmt.returning(CallRow.call_id)).first()
                if created is not None:
                    stored = replace(record, received_at=received)
                    if self._forward:
                        enqueue(
                            session,
                            OutboxKind.CALL,
                            f"call:{record.call_id}",
                            stored.to_dict(),
                            received,
                        )
                    return AddResult(AddOutcome.CREATED, stored)
                existing = session.get(CallRow, record.call_id)
                if existing is None:  # pragma: no cover - deleted between the two statements
                    raise DbError(f"call {record.call_id!r} vanished while being stored")
                stored = _to_call(existing)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"storing call {record.call_id!r} failed: {exc}") from None
        outcome = AddOutcome.DUPLICATE if stored.same_content(record) else AddOutcome.CONFLICT
        return AddResult(outcome, stored)

    def get_call(self, call_id: str) -> Call | None:
        """The call with this id, or None."""
        try:
            with self._sessions() as session:
                row = session.get(CallRow, call_id)
                return None if row is None else _to_call(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading call {call_id!r} failed: {exc}") from None

    def list_calls(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        outcome: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
        language: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> CallPage:
        """Calls matching every given filter, newest first, at most ``limit`` (≤ 1000)."""
        if not 1 <= limit <= MAX_PAGE:
            raise DbError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise DbError(f"{name} must carry a timezone")
        query = select(CallRow)
        if start is not None:
            query = query.where(CallRow.started_at >= start)
        if end is not None:
            query = query.where(CallRow.started_at < end)
        if outcome is not None:
            query = query.where(CallRow.outcome == outcome)
        if queue is not None:
            query = query.where(CallRow.queue == queue)
        if agent is not None:
            query = query.where(CallRow.agent_id == agent)
        if language is not None:
            query = query.where(CallRow.language == language)
        if cursor is not None:
            after_started, after_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    CallRow.started_at < after_started,
                    and_(CallRow.started_at == after_started, CallRow.call_id < after_id),
                )
            )
        query = query.order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(limit + 1)
        try:
            with self._sessions() as session:
                rows = list(session.scalars(query))
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"listing calls failed: {exc}") from None
        items = [_to_call(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.started_at, last.call_id)
        return CallPage(items, next_cursor)

    def list_filtered(
        self, flt: CallFilter, limit: int = 100, cursor: str | None = None
    ) -> CallPage:
        """`list_calls` with the filters in one value."""
        return self.list_calls(
            flt.start, flt.end, flt.outcome, flt.queue, flt.agent, flt.language, limit, cursor
        )
