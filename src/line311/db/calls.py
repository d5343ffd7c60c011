"""The call-record repository: idempotent intake and keyset-paginated queries.

Theory of operation
-------------------
The controller may send the same finished call more than once (it retries after a timeout
whose response was lost; later, the outbox redelivers after a crash). ``call_id`` is the
primary key, so the *database* decides races: `CallRepository.add_call` tries the INSERT and,
on a key collision, reads the stored row and compares content. Same content (timestamps
compared as instants, JSON numbers by value whatever the back-end hands back,
``received_at`` ignored) → `AddOutcome.DUPLICATE`, nothing written;
different content → `AddOutcome.CONFLICT`, nothing written.

`CallRepository.add_calls` stores many records in **one transaction**: one multi-row
``INSERT ... ON CONFLICT (call_id) DO NOTHING RETURNING call_id`` (a statement built once and
reused, so SQLAlchemy's compiled cache and psycopg's prepared statements apply), then one
read of the rows that were already there, the outbox rows of the new ones, one commit. Each
record gets its own outcome, exactly as if they had been added one by one in order: a
record repeated inside a batch is a DUPLICATE (or CONFLICT) of its first occurrence. The
bridge batches concurrent ``POST /v1/calls`` requests through it (group commit), and
``POST /v1/calls/batch`` calls it directly. `add_call` is a batch of one.

Listing is newest first, ordered by ``(started_at, call_id)`` descending, and paginated with
an opaque keyset cursor (the last row's sort key), so pages stay stable while calls arrive
and cost the same at page 1 and page 10,000.

A CCR's desk key sees only the calls its CCR *handled* (`handled_by`): the stored record names
the CCR (``agent_id``), or a screen pop of the call went to the CCR (a call transferred to or
from them, or one still going, whose record is not stored yet). The list reads them through
the CCR's indexes (``calls(agent_id, started_at)``, ``screen_pops(agent_id, ...)``), so its
cost follows the CCR's calls, not the table.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self, cast

from sqlalchemy import ColumnElement, Table, and_, exists, or_, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from line311.call.record import CallRecord
from line311.call.schema import RECORD_FIELDS, STORED_FIELDS, leg_facts
from line311.db.errors import DbError, DbUnavailable, RecordRefused
from line311.db.models import CallRow, ScreenPopRow
from line311.db.outbox import OutboxKind, enqueue

__all__ = [
    "MAX_PAGE",
    "AddOutcome",
    "AddResult",
    "Call",
    "CallFilter",
    "CallPage",
    "CallRepository",
    "InvalidCursor",
    "canonical_json",
]

MAX_PAGE = 1000

_CALLS: Table = CallRow.__table__  # type: ignore[assignment]
_INSERT = {
    "postgresql": postgresql.insert(_CALLS)
    .on_conflict_do_nothing(index_elements=["call_id"])
    .returning(_CALLS.c.call_id),
    "sqlite": sqlite.insert(_CALLS)
    .on_conflict_do_nothing(index_elements=["call_id"])
    .returning(_CALLS.c.call_id),
}
"""The intake statement per dialect, built once; rows are passed as parameters."""


class InvalidCursor(DbError):
    """A pagination cursor that this code did not produce."""


def canonical_json(value: Any) -> Any:
    """``value`` (JSON-like) with every number as the exact `Decimal` of its JSON text, and
    ``true``/``false`` kept apart from 1 and 0: the same for a value posted and the value read
    back from either back-end. PostgreSQL's JSONB keeps numbers as ``numeric`` and hands
    ``1e23`` back as the integer ``100000000000000000000000``, which is not the float
    ``1e23`` (99999999999999991611392) Python parsed from the post, yet both write ``1e23``."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else value
    if isinstance(value, Mapping):
        return {key: canonical_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_json(item) for item in value]
    return value  # str, None, Decimal, datetime (compared as instants)


class ReceivedRecord:
    """What stored records posted by the controller share (`Call`, `ScreenPop`): a
    ``received_at`` stamp that is not content, and a JSON-ready form. For dataclasses."""

    __slots__ = ()

    def same_content(self, other: Self) -> bool:
        """True when both describe the same thing (``received_at`` is not content); JSON
        compared by `canonical_json`, so a record read back equals the one that was posted."""
        return all(
            canonical_json(getattr(self, f.name)) == canonical_json(getattr(other, f.name))
            for f in fields(cast(Any, self))
            if f.name != "received_at"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, datetimes as ISO-8601 with offset."""
        out: dict[str, Any] = {}
        for f in fields(cast(Any, self)):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True)
class Call(ReceivedRecord):
    """A finished call as stored: the fields of `line311.call.schema.STORED_FIELDS` (the
    record's, ``received_at``, the leg's indexed facts). No caller number: ``caller_hash``.
    Built from the one record by `from_record`.
    """

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
    queue_leg: Any = None
    """The queue leg as JSON (`line311.call.record.QueueLeg.to_dict`); None: IVR only."""
    queue_answered_at: datetime | None = None
    abandoned_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None

    @classmethod
    def from_record(cls, record: CallRecord) -> Call:
        """The stored form of ``record`` (not yet received: ``received_at`` is None)."""
        values = {name: getattr(record, name) for name in RECORD_FIELDS}
        leg = record.queue_leg
        values["queue_leg"] = None if leg is None else leg.to_dict()
        return cls(**values, **leg_facts(leg))


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
    return Call(**{name: getattr(row, name) for name in STORED_FIELDS})


def _row(record: Call, received: datetime) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in STORED_FIELDS}
    values["received_at"] = received
    return values


def is_data_error(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` is about the values written (the same write fails again), not about
    reaching the database: a driver's data or integrity error, or a value no column type
    could bind (SQLAlchemy's `StatementError` that wraps no driver error)."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _handled_by(agent_id: str) -> ColumnElement[bool]:
    """The calls the CCR ``agent_id`` handled (see the module docstring), for a list."""
    mine = union(
        select(CallRow.call_id).where(CallRow.agent_id == agent_id),
        select(ScreenPopRow.call_id).where(ScreenPopRow.agent_id == agent_id),
    )
    return CallRow.call_id.in_(mine)


def _popped_to(agent_id: str) -> ColumnElement[bool]:
    """A screen pop of the call (the row at hand) went to ``agent_id``; one key lookup."""
    return exists().where(
        ScreenPopRow.call_id == CallRow.call_id, ScreenPopRow.agent_id == agent_id
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
        """Store ``record`` unless a call with its id exists (see the module docstring)."""
        return self.add_calls([record])[0]

    def add_calls(self, records: Sequence[Call]) -> list[AddResult]:
        """Store ``records`` in one transaction; one `AddResult` per record, in order.

        New records are CREATED (and written to the outbox when forwarding is on); a record
        whose ``call_id`` is stored already, or came earlier in ``records``, is a DUPLICATE
        (same content) or a CONFLICT (different content) and changes nothing. All or
        nothing: a database failure raises `DbUnavailable` and stores none of them; values
        the database refuses (out of range, too long) raise `RecordRefused` (no retry helps).
        """
        if not records:
            return []
        received = self._clock()
        first: dict[str, Call] = {}
        for record in records:
            first.setdefault(record.call_id, record)
        rows = [_row(record, received) for record in first.values()]
        stored: dict[str, Call] = {}
        try:
            with self._sessions.begin() as session:
                dialect = session.get_bind().dialect.name
                created = set(session.scalars(_INSERT[dialect], rows))
                existing = [call_id for call_id in first if call_id not in created]
                if existing:
                    query = select(CallRow).where(CallRow.call_id.in_(existing))
                    stored = {row.call_id: _to_call(row) for row in session.scalars(query)}
                    vanished = set(existing) - stored.keys()
                    if vanished:  # pragma: no cover - deleted between the two statements
                        raise DbError(f"call(s) {sorted(vanished)} vanished while being stored")
                for call_id in (c for c in first if c in created):  # in order
                    new = stored[call_id] = replace(first[call_id], received_at=received)
                    if self._forward:
                        enqueue(
                            session, OutboxKind.CALL, f"call:{call_id}", new.to_dict(), received
                        )
        except SQLAlchemyError as exc:
            what = repr(records[0].call_id) if len(records) == 1 else f"{len(records)} calls"
            if is_data_error(exc):
                raise RecordRefused(f"storing {what} refused by the database: {exc}") from None
            raise DbUnavailable(f"storing {what} failed: {exc}") from None
        results = []
        for record in records:
            kept = stored[record.call_id]
            if record.call_id in created:
                created.discard(record.call_id)  # later repeats in the batch compare to it
                results.append(AddResult(AddOutcome.CREATED, kept))
            elif kept.same_content(record):
                results.append(AddResult(AddOutcome.DUPLICATE, kept))
            else:
                results.append(AddResult(AddOutcome.CONFLICT, kept))
        return results

    def get_call(self, call_id: str) -> Call | None:
        """The call with this id, or None."""
        try:
            with self._sessions() as session:
                row = session.get(CallRow, call_id)
                return None if row is None else _to_call(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading call {call_id!r} failed: {exc}") from None

    def get_handled_call(self, call_id: str, agent_id: str) -> Call | None:
        """The call with this id if the CCR ``agent_id`` handled it, else None: one query
        whether the call is missing or someone else's, so neither answer tells the other."""
        query = select(CallRow).where(
            CallRow.call_id == call_id,
            or_(CallRow.agent_id == agent_id, _popped_to(agent_id)),
        )
        try:
            with self._sessions() as session:
                row = session.scalars(query).first()
                return None if row is None else _to_call(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading call {call_id!r} failed: {exc}") from None

    def handled_by(self, call_id: str, agent_id: str) -> bool:
        """Whether the CCR ``agent_id`` handled call ``call_id``: its stored record names
        them, or a screen pop of it went to them (true while the call is still going)."""
        record = exists().where(CallRow.call_id == call_id, CallRow.agent_id == agent_id)
        pop = exists().where(ScreenPopRow.call_id == call_id, ScreenPopRow.agent_id == agent_id)
        try:
            with self._sessions() as session:
                return bool(session.scalar(select(or_(record, pop))))
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
        *,
        handled_by: str | None = None,
    ) -> CallPage:
        """Calls matching every given filter, newest first, at most ``limit`` (≤ 1000).

        ``handled_by``: only the calls that CCR handled (record or screen pop; a desk key's
        view), whereas ``agent`` is the record's ``agent_id`` alone.
        """
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
        if handled_by is not None:
            query = query.where(_handled_by(handled_by))
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
