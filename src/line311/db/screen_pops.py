"""Screen-pop records: what a CCR's desktop shows when a call is connected to them.

Idempotent by (call_id, agent_id), like call records: a repeat is a no-op, a conflicting
repeat is reported as a conflict. The desktop also gets the caller's earlier SRs, found by
the keyed caller hash (see `ServiceRequestStore.recent_for_caller`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.calls import AddOutcome
from line311.db.errors import DbError, DbUnavailable
from line311.db.models import ScreenPopRow

__all__ = ["ScreenPop", "ScreenPopResult", "ScreenPopStore"]


@dataclass(frozen=True, slots=True)
class ScreenPop:
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

    def same_content(self, other: ScreenPop) -> bool:
        return all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name != "received_at"
        )


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
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def add(self, pop: ScreenPop) -> ScreenPopResult:
        values = {name: getattr(pop, name) for name in _FIELDS}
        values["received_at"] = self._clock()
        row = ScreenPopRow(**values)
        key = (pop.call_id, pop.agent_id)
        try:
            with self._sessions() as session:
                try:
                    session.add(row)
                    session.commit()
                    return ScreenPopResult(AddOutcome.CREATED, _to_pop(row))
                except IntegrityError:
                    session.rollback()
                existing = session.get(ScreenPopRow, key)
                if existing is None:  # pragma: no cover
                    raise DbError(f"screen pop {key} violates a constraint") from None
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
