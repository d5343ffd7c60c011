"""Scoped API keys of the CRM bridge, stored hashed.

A token is ``l311_`` + 43 random URL-safe characters (256 bits). Only its SHA-256 is stored:
with that much entropy a slow password hash adds nothing, and a lookup stays one indexed
equality. The token is shown once, when created (``line311 apikeys create``).

An ``agent_desktop`` key belongs to one CCR (``agent_id``, an id as the roster writes it): the
bridge shows it only that CCR's calls and screen pops. Desk keys made before keys were bound
have no ``agent_id``: they still work unconfined (`ApiKey.unbound`), and the bridge warns.
Other scopes never carry one.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.call.values import is_record_name
from line311.db.errors import DbError, DbUnavailable
from line311.db.models import ApiKeyRow

__all__ = [
    "ApiKey",
    "ApiKeyStore",
    "InvalidApiKey",
    "Scope",
    "check_binding",
    "hash_token",
    "new_token",
]

TOKEN_PREFIX = "l311_"


class Scope(enum.StrEnum):
    """What a key may do (see docs/crm-bridge.md for the route table)."""

    CONTROLLER = "controller"
    AGENT_DESKTOP = "agent_desktop"
    OPEN311_CLIENT = "open311_client"
    ADMIN = "admin"


class InvalidApiKey(DbError):
    """A key that may not be created as asked (its name, or its CCR for its scope)."""


def check_binding(scope: Scope, agent_id: str | None) -> None:
    """Raise `InvalidApiKey` unless ``agent_id`` fits ``scope``: an ``agent_desktop`` key needs
    one, a CCR id as the roster accepts it (`line311.call.values.is_record_name`); no other
    scope takes one."""
    if Scope(scope) is not Scope.AGENT_DESKTOP:
        if agent_id is not None:
            raise InvalidApiKey(
                f"only an agent_desktop key belongs to a CCR; {scope} keys take no agent"
            )
        return
    if agent_id is None:
        raise InvalidApiKey(
            "an agent_desktop key belongs to one CCR: give the CCR's id from the roster "
            "(--agent ID); it then reads only that CCR's calls and screen pops"
        )
    if not is_record_name(agent_id):
        raise InvalidApiKey(
            "agent id must be 1-64 letters, digits or . _ : @ - (starting with a letter or "
            f"digit), got {agent_id!r}"
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the token itself). ``agent_id``: the CCR of a bound desk key."""

    id: int
    name: str
    scope: Scope
    prefix: str
    rate_per_second: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None
    agent_id: str | None = None

    @property
    def unbound(self) -> bool:
        """A desk key made before keys were bound to a CCR: it reads every call."""
        return self.scope is Scope.AGENT_DESKTOP and self.agent_id is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": str(self.scope),
            "prefix": self.prefix,
            "rate_per_second": self.rate_per_second,
            "burst": self.burst,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "agent_id": self.agent_id,
            "unbound": self.unbound,
        }


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        prefix=row.prefix,
        rate_per_second=row.rate_per_second,
        burst=row.burst,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        agent_id=row.agent_id,
    )


class ApiKeyStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(
        self,
        name: str,
        scope: Scope,
        *,
        rate_per_second: float | None = None,
        burst: int | None = None,
        agent_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its token (the only time the token exists outside the caller).

        ``agent_id``: the CCR an ``agent_desktop`` key belongs to (required for that scope,
        refused for the others; see `check_binding`). Raises `InvalidApiKey`.
        """
        if not name.strip() or len(name) > 100:
            raise InvalidApiKey("a key needs a name of 1 to 100 characters")
        check_binding(scope, agent_id)
        token = new_token()
        row = ApiKeyRow(
            name=name,
            scope=str(Scope(scope)),
            token_hash=hash_token(token),
            prefix=token[: len(TOKEN_PREFIX) + 6],
            rate_per_second=rate_per_second,
            burst=burst,
            created_at=self._clock(),
            revoked_at=None,
            agent_id=agent_id,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                key = _key(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"creating an API key failed: {exc}") from None
        return key, token

    def find(self, token: str) -> ApiKey | None:
        """The live (not revoked) key with this token, or None."""
        query = select(ApiKeyRow).where(
            ApiKeyRow.token_hash == hash_token(token), ApiKeyRow.revoked_at.is_(None)
        )
        try:
            with self._sessions() as session:
                row = session.scalars(query).first()
                return None if row is None else _key(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"looking up an API key failed: {exc}") from None

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.id)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        try:
            with self._sessions() as session:
                return [_key(r) for r in session.scalars(query)]
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"listing API keys failed: {exc}") from None

    def count_unbound(self) -> int:
        """How many live ``agent_desktop`` keys belong to no CCR (made before binding)."""
        query = select(func.count()).where(
            ApiKeyRow.scope == str(Scope.AGENT_DESKTOP),
            ApiKeyRow.agent_id.is_(None),
            ApiKeyRow.revoked_at.is_(None),
        )
        try:
            with self._sessions() as session:
                return int(session.scalar(query) or 0)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"counting unbound desk keys failed: {exc}") from None

    def revoke(self, key_id: int) -> bool:
        """Revoke a live key; False when there is no such live key."""
        try:
            with self._sessions.begin() as session:
                result = session.execute(
                    update(ApiKeyRow)
                    .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                    .values(revoked_at=self._clock())
                    .execution_options(synchronize_session=False)
                )
                return int(result.rowcount) == 1  # type: ignore[attr-defined]
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"revoking API key {key_id} failed: {exc}") from None
