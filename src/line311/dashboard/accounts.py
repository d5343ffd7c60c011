"""Dashboard accounts in the database: create, disable, authenticate, generations, audit log.

`AccountStore` keeps accounts (`line311.db.accounts_models.AccountRow`) and the audit log
(`AuditRow`: every supervisor action, also refused or failed ones). Signing out bumps an
account's session generation and revoking tokens its token generation (see
`line311.dashboard.auth`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from line311.dashboard.credentials import (
    AccountView,
    Principal,
    Role,
    check_password_policy,
    hash_password,
    verify_password,
)
from line311.dashboard.errors import AccountError, AuthError
from line311.db.accounts_models import AccountRow, AuditRow
from line311.db.engine import make_session_factory
from line311.text import is_safe_text, storable_text

__all__ = ["MAX_AUDIT_TARGET", "AccountStore", "is_action_target"]

logger = logging.getLogger(__name__)

MAX_AUDIT_TARGET: Final = 128
"""Longest agent, queue or alert id an audit entry keeps (its column's size); actions refuse
longer ids before acting."""
_USERNAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")


def is_action_target(target: str) -> bool:
    """Whether ``target`` can name what an action acts on (an agent, queue or alert id): at
    most `MAX_AUDIT_TARGET` characters of safe text (`line311.text.is_safe_text`), so its
    audit entry keeps it whole and the database takes it."""
    return len(target) <= MAX_AUDIT_TARGET and is_safe_text(target)


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= _USERNAME_CHARS:
        raise AccountError(f"bad username {username!r}: 1-64 characters among a-z 0-9 . _ - @")
    return name


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError(
            f"unknown role {value!r}: use {Role.OPERATIONS.value} or {Role.SUPERVISOR.value}"
        ) from None


class AccountStore:
    """Accounts and the audit log in the database (synchronous; call from a thread)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = make_session_factory(engine)
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def create(self, username: str, password: str, role: str) -> AccountView:
        """Create an account; `AccountError` on a duplicate, weak password or unknown role."""
        name = _check_username(username)
        checked_role = _role(role)
        check_password_policy(password)
        row = AccountRow(
            username=name,
            role=checked_role.value,
            password_hash=hash_password(password),
            disabled=False,
            created_at=self._now(),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise AccountError(f"account {name!r} already exists") from None
        return AccountView(name, checked_role, False, row.created_at)

    def accounts(self) -> list[AccountView]:
        """Every account, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(AccountRow).order_by(AccountRow.username)).all()
            return [AccountView(r.username, Role(r.role), r.disabled, r.created_at) for r in rows]

    def disable(self, username: str) -> None:
        """Disable an account (its sessions and tokens stop working at once)."""
        name = _check_username(username)
        with self._sessions.begin() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            if row is None:
                raise AccountError(f"no account {name!r}")
            row.disabled = True
            row.disabled_at = self._now()

    def _bump(self, username: str, column: str) -> int:
        name = _check_username(username)
        with self._sessions.begin() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            if row is None:
                raise AccountError(f"no account {name!r}")
            value = int(getattr(row, column) or 0) + 1
            setattr(row, column, value)
            return value

    def end_sessions(self, username: str) -> None:
        """End every session of ``username`` (sign-out): older session cookies are refused."""
        self._bump(username, "session_generation")

    def revoke_tokens(self, username: str) -> None:
        """Revoke every bearer token issued so far to ``username``."""
        self._bump(username, "token_generation")

    def generations(self, username: str) -> tuple[Principal, int, int] | None:
        """The enabled account ``username`` with its session and token generations, or None."""
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == username)).first()
            if row is None or row.disabled:
                return None
            return (
                Principal(row.username, Role(row.role)),
                int(row.session_generation or 0),
                int(row.token_generation or 0),
            )

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for good credentials of an enabled account; `AuthError` otherwise."""
        try:
            name = _check_username(username)
        except AccountError:
            raise AuthError("wrong username or password") from None
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            stored = row.password_hash if row is not None else _DUMMY_HASH
            ok = verify_password(password, stored)  # also for unknown users: same timing
            if row is None or not ok or row.disabled:
                raise AuthError("wrong username or password")
            return Principal(row.username, Role(row.role))

    def active(self, username: str) -> Principal | None:
        """The enabled account ``username`` as a principal, or None."""
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == username)).first()
            if row is None or row.disabled:
                return None
            return Principal(row.username, Role(row.role))

    def audit(
        self,
        principal: Principal,
        action: str,
        target: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one audit entry. The texts are stored as `storable_text` within their
        columns, so an entry about refused input (a NUL, 300 characters) is still written."""
        with self._sessions.begin() as session:
            session.add(
                AuditRow(
                    at=self._now(),
                    username=storable_text(principal.username, 64),
                    role=principal.role.value,
                    action=storable_text(action, 64),
                    target=storable_text(target, MAX_AUDIT_TARGET),
                    outcome=storable_text(outcome, 16),
                    details=dict(details or {}),
                )
            )

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries first."""
        with self._sessions() as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()
            return [
                {
                    "at": r.at.isoformat(),
                    "username": r.username,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "outcome": r.outcome,
                    "details": r.details,
                }
                for r in rows
            ]


_DUMMY_HASH: Final = hash_password("not a real password", salt=b"\0" * 16)
