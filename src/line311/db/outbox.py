"""The transactional outbox: records to forward to the external CRM, and their delivery state.

Theory of operation
-------------------
A store that changes data (a call record, a filed SR, an SR status change, a screen pop)
also writes one ``outbox`` row **in the same transaction** (`enqueue`), so a record is
forwarded if and only if its data was committed: a crash can lose neither one without the
other. Each row carries an ``idempotency_key`` that is stable for the record (the receiver
uses it to ignore repeats), unique in the table.

Delivery (`line311.crm_bridge.outbox`) is at-least-once::

    pending ──claim──▶ leased ──2xx──▶ delivered
       ▲                 │ failure (attempts < max): next_attempt_at = now + backoff
       └─────────────────┘
                         │ failure (attempts = max, or a permanent 4xx) ──▶ dead ──replay──▶ pending

`OutboxStore.claim` leases due rows in one statement: ``UPDATE ... WHERE id IN (SELECT ...
FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL, so concurrent workers never claim the
same row (each skips what another is claiming); on SQLite the database serialises writers,
so the same statement is safe there too. A lease expires: a worker killed mid-delivery
leaves its rows leased until then, after which any worker sends them again (the receiver's
idempotency check makes that repeat harmless). ``attempts`` grows at every claim, so even a
record that crashes its worker ends in the dead-letter state.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.errors import DbUnavailable
from line311.db.models import OutboxRow

__all__ = [
    "OutboxBacklog",
    "OutboxItem",
    "OutboxKind",
    "OutboxStats",
    "OutboxStore",
    "enqueue",
]

ERROR_MAX = 500


class OutboxKind(enum.StrEnum):
    """What an outbox record describes (sent as the webhook's event type)."""

    CALL = "call.finished"
    SR_FILED = "sr.filed"
    SR_STATUS = "sr.status"
    SCREEN_POP = "screen_pop"


class State(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One outbox record as the worker and the CLI see it."""

    id: int
    idempotency_key: str
    kind: str
    payload: Any
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no payload: it may be large)."""
        return {
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    delivered: int
    dead: int
    oldest_pending_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "delivered": self.delivered,
            "dead": self.dead,
            "oldest_pending_at": (
                self.oldest_pending_at.isoformat() if self.oldest_pending_at else None
            ),
        }


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What the bridge's metrics read of the outbox: records waiting and dead, and the
    creation time of the oldest waiting one (None when none waits)."""

    pending: int
    dead: int
    oldest_pending_at: datetime | None


def enqueue(
    session: Session, kind: OutboxKind, idempotency_key: str, payload: Any, now: datetime
) -> None:
    """Add a record to the outbox inside the caller's transaction (``session``)."""
    session.execute(
        insert(OutboxRow).values(
            idempotency_key=idempotency_key,
            kind=str(kind),
            payload=payload,
            state=State.PENDING.value,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )


_COLUMNS = (
    OutboxRow.id,
    OutboxRow.idempotency_key,
    OutboxRow.kind,
    OutboxRow.payload,
    OutboxRow.state,
    OutboxRow.attempts,
    OutboxRow.created_at,
    OutboxRow.next_attempt_at,
    OutboxRow.delivered_at,
    OutboxRow.last_error,
)


def _item(row: Any) -> OutboxItem:
    return OutboxItem(*row)


class OutboxStore:
    """Claims, settles, lists and replays outbox records (one short transaction each)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ worker side
    def claim(self, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Lease up to ``limit`` due records for ``lease``; attempts + 1.

        Fair: the record that has been due longest goes first (``next_attempt_at``, then
        ``id``), so while the receiver is down a record that keeps failing fast cannot be
        re-leased ahead of newer ones and starve them; each waits at most its own backoff.
        """
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                due = (
                    select(OutboxRow.id)
                    .where(
                        OutboxRow.state == State.PENDING.value,
                        OutboxRow.next_attempt_at <= now,
                        or_(OutboxRow.leased_until.is_(None), OutboxRow.leased_until < now),
                    )
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(limit)
                )
                if session.get_bind().dialect.name == "postgresql":
                    due = due.with_for_update(skip_locked=True)
                rows = session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(due.scalar_subquery()))
                    .values(leased_until=now + lease, attempts=OutboxRow.attempts + 1)
                    .returning(*_COLUMNS)
                    .execution_options(synchronize_session=False)
                ).all()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"claiming outbox records failed: {exc}") from None
        return sorted((_item(r) for r in rows), key=lambda item: item.id)

    def mark_delivered(self, ids: Sequence[int]) -> None:
        """Settle these records as delivered (only while they are still pending)."""
        if not ids:
            return
        now = self._clock()
        self._update(
            ids,
            state=State.DELIVERED.value,
            delivered_at=now,
            leased_until=None,
            last_error=None,
        )

    def mark_failed(self, item_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: retry at ``retry_at``, or dead-letter when it is None."""
        values: dict[str, Any] = {"leased_until": None, "last_error": error[:ERROR_MAX]}
        if retry_at is None:
            values["state"] = State.DEAD.value
        else:
            values["next_attempt_at"] = retry_at
        self._update([item_id], **values)

    def release(self, ids: Sequence[int]) -> None:
        """Give claimed records back at once (a worker stopping mid-delivery)."""
        if ids:
            self._update(ids, leased_until=None)

    def _update(self, ids: Sequence[int], **values: Any) -> None:
        try:
            with self._sessions.begin() as session:
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(list(ids)), OutboxRow.state == State.PENDING.value)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"updating outbox records failed: {exc}") from None

    # ------------------------------------------------------------------ operator side
    def backlog(self) -> int:
        """Records not yet delivered and not dead (the gauge operators watch)."""
        return self._count(State.PENDING)

    def _count(self, state: State) -> int:
        try:
            with self._sessions() as session:
                return int(
                    session.scalar(
                        select(func.count()).select_from(OutboxRow).where(OutboxRow.state == state)
                    )
                    or 0
                )
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"counting outbox records failed: {exc}") from None

    def backlog_figures(self) -> OutboxBacklog:
        """Pending and dead counts and the oldest pending record's creation time, for the
        bridge's /metrics: read through the ``(state, next_attempt_at)`` index, so it costs
        the records not yet delivered, never the delivered ones (the table's bulk, kept as
        an audit trail)."""
        counts, oldest = self._counts((State.PENDING.value, State.DEAD.value), "backlog")
        return OutboxBacklog(
            pending=int(counts.get(State.PENDING.value, 0)),
            dead=int(counts.get(State.DEAD.value, 0)),
            oldest_pending_at=oldest,
        )

    def stats(self) -> OutboxStats:
        """Counts by state and the creation time of the oldest pending record."""
        counts, oldest = self._counts(None, "statistics")
        return OutboxStats(
            pending=int(counts.get(State.PENDING.value, 0)),
            delivered=int(counts.get(State.DELIVERED.value, 0)),
            dead=int(counts.get(State.DEAD.value, 0)),
            oldest_pending_at=oldest,
        )

    def _counts(
        self, states: tuple[str, ...] | None, what: str
    ) -> tuple[dict[str, int], datetime | None]:
        """Records per state (only ``states``, through the state index, when given) and the
        creation time of the oldest pending one."""
        query = select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
        if states is not None:
            query = query.where(OutboxRow.state.in_(states))
        try:
            with self._sessions() as session:
                counts = {state: int(n) for state, n in session.execute(query).all()}
                oldest = session.scalar(
                    select(func.min(OutboxRow.created_at)).where(
                        OutboxRow.state == State.PENDING.value
                    )
                )
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading the outbox {what} failed: {exc}") from None
        return counts, oldest

    def list(self, *, dead: bool = False, limit: int = 100) -> list[OutboxItem]:
        """Dead records (``dead``) or records not yet delivered, oldest first."""
        state = State.DEAD if dead else State.PENDING
        try:
            with self._sessions() as session:
                rows = session.execute(
                    select(*_COLUMNS)
                    .where(OutboxRow.state == state.value)
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(limit)
                ).all()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"listing outbox records failed: {exc}") from None
        return [_item(r) for r in rows]

    def get(self, item_id: int) -> OutboxItem | None:
        try:
            with self._sessions() as session:
                row = session.execute(select(*_COLUMNS).where(OutboxRow.id == item_id)).first()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading outbox record {item_id} failed: {exc}") from None
        return None if row is None else _item(row)

    def replay(self, item_id: int) -> bool:
        """Make a dead record pending again (attempts reset); False if it is not dead."""
        return self._replay(OutboxRow.id == item_id) == 1

    def replay_all_dead(self) -> int:
        """Make every dead record pending again; the number replayed."""
        return self._replay()

    def _replay(self, *where: Any) -> int:
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                result = session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.state == State.DEAD.value, *where)
                    .values(
                        state=State.PENDING.value,
                        attempts=0,
                        next_attempt_at=now,
                        leased_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                return int(result.rowcount)  # type: ignore[attr-defined]
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"replaying outbox records failed: {exc}") from None
