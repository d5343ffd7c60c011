"""SQLAlchemy 2 models (declarative, ``Mapped[]``).

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
classes must agree with them (an integration test compares the two). No table holds a
caller's number: ``caller_hash`` is the keyed hash from `line311.privacy.caller_hash`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

# Every table module is imported here, so `Base.metadata` (Alembic's target) holds them all:
# the one place where the models are registered.
from line311.db import accounts_models as _accounts_models  # noqa: F401
from line311.db import alerts_models as _alerts_models  # noqa: F401
from line311.db import queue_models as _queue_models  # noqa: F401
from line311.db.base import Base
from line311.db.coltypes import JsonDocument, UtcDateTime

__all__ = [
    "ApiKeyRow",
    "Base",
    "CallRow",
    "OutboxRow",
    "ScreenPopRow",
    "ServiceRequestRow",
    "ServiceRow",
]


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
    queue_leg: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    """The queue leg (`line311.call.record.QueueLeg.to_dict`); NULL for IVR-only calls."""
    queue_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When a CCR answered (``answered_at`` is when line311 answered the line)."""
    abandoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_calls_started_at_call_id", "started_at", "call_id"),
        Index("ix_calls_queue_answered_at", "queue_answered_at"),
        Index("ix_calls_abandoned_at", "abandoned_at"),
        Index("ix_calls_outcome_started_at", "outcome", "started_at"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_agent_id_started_at", "agent_id", "started_at"),
        Index("ix_calls_caller_hash", "caller_hash"),
    )


class ServiceRow(Base):
    """One entry of the service catalogue (an Open311 service)."""

    __tablename__ = "services"

    service_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(String(32))
    group_name: Mapped[str] = mapped_column(String(100))
    keywords: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(16))
    service_notice: Mapped[str] = mapped_column(Text)
    expected_days: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean)


class ServiceRequestRow(Base):
    """A service request (SR). ``id`` is the sequence inside ``sr_number``.

    Personal data: ``first_name``, ``last_name`` and ``email`` as given by the requester, kept
    for the CRM and never returned by Open311 or the IVR lookup. A phone number is never
    stored: only its keyed hash, in ``caller_hash``, which links the SR to the caller's calls.
    """

    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sr_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.service_code"))
    status: Mapped[str] = mapped_column(String(16))
    status_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str] = mapped_column(String(32))
    service_notice: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    address: Mapped[str | None] = mapped_column(String(300))
    address_id: Mapped[str | None] = mapped_column(String(64))
    zipcode: Mapped[str | None] = mapped_column(String(10))
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    media_url: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(128))
    account_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))

    __table_args__ = (
        Index("ix_service_requests_requested_at", "requested_at"),
        Index("ix_service_requests_service_code_requested_at", "service_code", "requested_at"),
        Index("ix_service_requests_status_requested_at", "status", "requested_at"),
        Index(
            "ix_service_requests_service_code_status_requested_at",
            "service_code",
            "status",
            "requested_at",
        ),
        Index("ix_service_requests_caller_hash_requested_at", "caller_hash", "requested_at"),
    )


class ScreenPopRow(Base):
    """What a CCR's desktop shows when a call is connected to them (one per call and agent)."""

    __tablename__ = "screen_pops"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    alerts: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    wait_seconds: Mapped[float] = mapped_column(Float)
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_screen_pops_agent_id_connected_at", "agent_id", "connected_at"),)


class OutboxRow(Base):
    """A record waiting to be forwarded to the external CRM (the transactional outbox).

    Written in the same transaction as the data it describes, so a record is forwarded if
    and only if its data was committed. ``state``: ``pending`` → ``delivered``, or ``dead``
    after too many failures (``line311 outbox replay`` makes it pending again).
    ``leased_until``: a worker has claimed the row and is sending it until then.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)


class ApiKeyRow(Base):
    """An API key of the CRM bridge. Only the SHA-256 of the token is kept (the token is
    high-entropy random, so a fast hash is enough); ``prefix`` lets operators tell keys apart.
    ``agent_id``: the CCR an ``agent_desktop`` key belongs to (NULL for other scopes, and for
    desk keys made before keys were bound: those still read everything).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    burst: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    agent_id: Mapped[str | None] = mapped_column(String(64))
