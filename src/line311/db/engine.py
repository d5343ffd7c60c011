"""Engines and sessions, built from settings (never at import time).

SQLite is the embedded default (``sqlite:///<state_dir>/line311.db``); PostgreSQL is the
production store (``postgresql+psycopg://user@host/db``). Both go through the same code: the
only SQLite-specific parts are here (pragmas, creating the file's directory) and in
`line311.db.coltypes`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.errors import DbError

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = [
    "create_engine_from_settings",
    "engine_from_settings",
    "make_engine",
    "make_session_factory",
    "safe_url",
]

logger = logging.getLogger(__name__)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, fit for logs and error messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url``. A SQLite file's directory is created when missing."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DbError(f"bad database URL {url!r}: {exc}") from None
    kwargs: dict[str, Any] = {"echo": echo}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    else:
        raise DbError(
            f"unsupported database {backend!r} in {safe_url(parsed)}: "
            "use sqlite:///path or postgresql+psycopg://..."
        )
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DbError(f"cannot use database {safe_url(parsed)}: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    logger.debug("database engine for %s", safe_url(parsed))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the bridge writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def engine_from_settings(settings: Settings) -> Engine:
    """The engine for ``settings.effective_database_url`` ."""
    return make_engine(settings.effective_database_url)


create_engine_from_settings = engine_from_settings
"""Alias of `engine_from_settings`."""


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
