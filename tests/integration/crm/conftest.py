"""Fixtures for the storage and CRM-bridge integration tests, on SQLite AND PostgreSQL.

Every test using ``engine`` (or what builds on it) runs once per backend. PostgreSQL is the
server on 127.0.0.1:5432 (override with ``LINE311_TEST_PG_ADMIN_URL``); each test session
creates its own database ``line311_test_<random>`` and drops it at the end, so concurrent
runs do not collide. When PostgreSQL is unreachable its variants are skipped — or fail
when ``CI`` is set, so a CI run never passes without having tested PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import delete
from sqlalchemy.engine import Engine, make_url

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.db import make_engine, upgrade
from line311.db.api_keys import hash_token
from line311.db.engine import make_session_factory
from line311.db.models import ApiKeyRow, Base

PG_ADMIN_URL = os.environ.get(
    "LINE311_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
API_KEY = "test-" + secrets.token_urlsafe(16)
"""The bootstrap key (crm_api_key): a controller key."""
OPEN311_KEY = "l311_test-" + secrets.token_urlsafe(16)
"""An open311_client key, stored by the ``api`` fixture."""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgDatabases:
    """Creates throw-away databases on the PostgreSQL server and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(_libpq(self.admin_url), autocommit=True, connect_timeout=3)

    def create(self) -> str:
        name = f"line311_test_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases(PG_ADMIN_URL)
    try:
        dbs._admin().close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL unreachable at {make_url(PG_ADMIN_URL).render_as_string()}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def new_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """A factory of empty databases on the current backend."""
    if backend == "sqlite":
        return lambda: f"sqlite:///{tmp_path_factory.mktemp('db') / 'line311.db'}"
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    return dbs.create


@pytest.fixture(scope="session")
def migrated_engine(new_database_url: Callable[[], str]) -> Iterator[Engine]:
    """One migrated database per backend and session."""
    engine = make_engine(new_database_url())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The session's migrated database, emptied after each test."""
    yield migrated_engine
    with migrated_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, crm_api_key=SecretStr(API_KEY))


@pytest.fixture
async def api(engine: Engine, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An authorised client of the bridge app, in process (httpx.ASGITransport)."""
    app = create_app(settings, engine=engine)
    with make_session_factory(engine).begin() as session:
        session.add(
            ApiKeyRow(
                name="open311 test client",
                scope="open311_client",
                token_hash=hash_token(OPEN311_KEY),
                prefix=OPEN311_KEY[:11],
                rate_per_second=1000.0,
                burst=1000,
                created_at=T0,
                revoked_at=None,
            )
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://bridge.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        yield client


T0 = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)


def record_dict(call_id: str = "1737986400.1", **overrides: Any) -> dict[str, Any]:
    """A finished call as the controller posts it (JSON-ready)."""
    body: dict[str, Any] = {
        "call_id": call_id,
        "dialed_number": "311",
        "caller_hash": "0123456789abcdef0123456789abcdef",
        "started_at": T0.isoformat(),
        "answered_at": (T0 + timedelta(seconds=1)).isoformat(),
        "ended_at": (T0 + timedelta(seconds=95)).isoformat(),
        "outcome": "self_served",
        "language": "en",
        "queue": None,
        "agent_id": None,
        "path": ["greeting", "menu:main", "dtmf:1"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_record() -> Callable[..., dict[str, Any]]:
    return record_dict
