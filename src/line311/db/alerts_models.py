"""Tables of the pushed alerts (see `line311.messaging.alerts` for the lifecycle).

- ``alerts``: one row per alert; per-language texts and audio references are JSON documents.
- ``alert_audit``: every step of every alert (who, what, when, from which state to which);
  only ever appended to.
- ``alert_audio_assets``: the audio file of an alert in one language (where it came from,
  its path relative to the prompt library, duration, level, content hash).
- ``alert_supervisors``: supervisors who may sign in on the phone line (PIN hashed, never
  stored in clear).
- ``alert_phone_lockouts``: consecutive failed PIN sign-ins per line, and until when it is
  locked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from line311.db.base import Base
from line311.db.coltypes import JsonDocument, UtcDateTime

__all__ = [
    "AlertAudioAssetRow",
    "AlertAuditRow",
    "AlertPhoneLockoutRow",
    "AlertRow",
    "AlertSupervisorRow",
]


class AlertRow(Base):
    """One pushed alert."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer)
    languages: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    node: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    texts: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    audio: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    ccr_text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_alerts_state_ends_at", "state", "ends_at"),)


class AlertAuditRow(Base):
    """One step in an alert's life."""

    __tablename__ = "alert_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_alert_audit_alert_id_id", "alert_id", "id"),)


class AlertAudioAssetRow(Base):
    """The audio file of an alert in one language."""

    __tablename__ = "alert_audio_assets"

    alert_id: Mapped[str] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(300))
    duration: Mapped[float] = mapped_column(Float)
    rms_dbfs: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertSupervisorRow(Base):
    """A supervisor who may sign in on the phone line: ``phone_id`` digits + a PIN."""

    __tablename__ = "alert_supervisors"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_id: Mapped[str] = mapped_column(String(16), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertPhoneLockoutRow(Base):
    """Consecutive failed sign-ins on one line (an internal endpoint) and its lock."""

    __tablename__ = "alert_phone_lockouts"

    line: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
