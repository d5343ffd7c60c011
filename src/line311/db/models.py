"""SQLAlchemy 2 models (declarative, ``Mapped[]``).

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
classes must agree with them (an integration test compares the two). No table holds a
caller's number: ``caller_hash`` is the keyed hash from `line311.privacy.caller_hash`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from line311.db.coltypes import JsonDocument, UtcDateTime

__all__ = ["Base", "CallRow"]

# Deterministic constraint names, so migrations can drop what they created on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every line311 table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    """One finished call, as the controller reported it."""

    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    dialed_number: Mapped[str] = mapped_column(String(32))
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_calls_started_at_call_id", "started_at", "call_id"),
        Index("ix_calls_outcome_started_at", "outcome", "started_at"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_agent_id_started_at", "agent_id", "started_at"),
        Index("ix_calls_caller_hash", "caller_hash"),
    )
