"""Screen-pop records: what a CCR's desktop shows when a call is connected to them.

Idempotent by (call_id, agent_id), like call records: a repeat is a no-op, a conflicting
repeat is reported as a conflict. The desktop also gets the caller's earlier SRs, found by
the keyed caller hash (see `ServiceRequestStore.recent_for_caller`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.calls import AddOutcome, ReceivedRecord
from line311.db.errors import DbError, DbUnavailable
from line311.db.models import ScreenPopRow
from line311.db.outbox import OutboxKind, enqueue
from line311.db.sqltools import insert_ignoring_conflict

__all__ = ["ScreenPop", "ScreenPopResult", "ScreenPopStore"]


@dataclass(frozen=True, slots=True)
class ScreenPop(ReceivedRecord):
    call_id: str
    agent_id: str
    queue: str | None
    language: str
    caller_hash: str | None
    path: Any
    alerts: Any
    wait_seconds: float
    connected_at: datetime
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScreenPopResult:
    outcome: AddOutcome
    stored: ScreenPop


_FIELDS = tuple(f.name for f in fields(ScreenPop))


def _to_pop(row: ScreenPopRow) -> ScreenPop:
    return ScreenPop(**{name: getattr(row, name) for name in _FIELDS})


class ScreenPopStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        forward: bool = False,
    ) -> None:
        """``forward``: also write each new screen pop to the outbox."""
        self._sessions = sessions
        self._clock = clock
        self._forward = forward

    def add(self, pop: ScreenPop) -> ScreenPopResult:
        """Store ``pop`` (and its outbox record) unless one exists for its call and agent."""
        received = self._clock()
        values = {name: getattr(pop, name) for name in _FIELDS}
        values["received_at"] = received
        key = (pop.call_id, pop.agent_id)
        try:
            with self._sessions.begin() as session:
                stmt = insert_ignoring_conflict(
                    session, ScreenPopRow, values, ["call_id", "agent_id"]
                )
                created = session.execute(stmt.returning(ScreenPopRow.call_id)).first()
                if created is not None:
                    stored = replace(pop, received_at=received)
                    if self._forward:
                        enqueue(
                            session,
                            OutboxKind.SCREEN_POP,
                            f"screen-pop:{pop.call_id}:{pop.agent_id}",
                            stored.to_dict(),
                            received,
                        )
                    return ScreenPopResult(AddOutcome.CREATED, stored)
                existing = session.get(ScreenPopRow, key)
                if existing is None:  # pragma: no cover - deleted between the two statements
                    raise DbError(f"screen pop {key} vanished while being stored")
                stored = _to_pop(existing)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"storing screen pop {key} failed: {exc}") from None
        outcome = AddOutcome.DUPLICATE if stored.same_content(pop) else AddOutcome.CONFLICT
        return ScreenPopResult(outcome, stored)

    def get(self, call_id: str, agent_id: str) -> ScreenPop | None:
        try:
            with self._sessions() as session:
                row = session.get(ScreenPopRow, (call_id, agent_id))
                return None if row is None else _to_pop(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading screen pop {call_id}/{agent_id} failed: {exc}") from None
