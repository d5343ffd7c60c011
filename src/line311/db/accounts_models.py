"""Dashboard accounts and the audit log of supervisor actions (issue 6).

Passwords are stored only as salted scrypt hashes (`line311.dashboard.auth.hash_password`);
``role`` is ``operations`` (read-only) or ``supervisor`` (can act). Accounts are disabled,
never deleted, so the audit log keeps naming real accounts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from line311.db.base import Base
from line311.db.coltypes import JsonDocument, UtcDateTime

__all__ = ["AccountRow", "AuditRow"]


class AccountRow(Base):
    """One person who may sign in to the dashboard."""

    __tablename__ = "dashboard_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # bumped by sign-out (sessions) and token revocation (bearer tokens): a credential
    # signed under an older generation is refused
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditRow(Base):
    """One supervisor action: who did what to which target, when, with which details."""

    __tablename__ = "dashboard_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[Any] = mapped_column(JsonDocument, nullable=False)

    __table_args__ = (Index("ix_dashboard_audit_at", "at"),)
