"""Engines and sessions, built from settings (never at import time).

SQLite is the embedded default (``sqlite:///<state_dir>/line311.db``); PostgreSQL is the
production store (``postgresql+psycopg://user@host/db``). Both go through the same code: the
only SQLite-specific parts are here (pragmas, creating the file's directory) and in
`line311.db.coltypes`.

The SQLite file holds password and key hashes and residents' personal data: it is created
(or tightened) to mode 0600, a directory created for it to 0700, and the state directory to
0700 (SQLite gives its -wal and -shm files the database file's mode). Engines are built with
``hide_parameters=True`` so a database error never carries the values of a statement (names,
e-mails, SR tokens) into a log line.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.errors import DbError

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = [
    "IDLE_PING_SECONDS",
    "POOL_MAX_OVERFLOW",
    "POOL_SIZE",
    "create_engine_from_settings",
    "engine_from_settings",
    "make_engine",
    "make_session_factory",
    "private_sqlite_file",
    "private_state_dir",
    "safe_url",
]

logger = logging.getLogger(__name__)

POOL_SIZE = 16
"""PostgreSQL connections kept open: enough for the bridge's busiest steady state (its
intake batcher, the outbox worker and a thread pool of readers) without opening and closing
overflow connections, which costs a backend start each time."""
POOL_MAX_OVERFLOW = 16
"""Connections opened beyond `POOL_SIZE` in bursts (closed again when returned)."""
IDLE_PING_SECONDS = 10.0
"""A pooled connection idle for longer is pinged (``SELECT 1``) before use, and replaced if
the server went away; busier connections are used without that extra round trip."""


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
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_file(Path(database).expanduser())
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif backend == "postgresql":
        kwargs["pool_size"] = POOL_SIZE
        kwargs["max_overflow"] = POOL_MAX_OVERFLOW
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
    else:
        event.listen(engine, "checkin", _stamp_checkin)
        event.listen(engine, "checkout", _ping_if_idle(engine))
    logger.debug("database engine for %s", safe_url(parsed))
    return engine


def private_sqlite_file(path: Path) -> None:
    """Create ``path``'s directory (0700) and the file itself (0600), or tighten the file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        if path.stat().st_uid == os.getuid():
            path.chmod(0o600)
    except OSError as exc:  # SQLite reports an unusable file itself, with its own error
        logger.debug("cannot set the mode of %s: %s", path.name, exc.strerror)


def private_state_dir(path: Path) -> None:
    """Create the state directory with mode 0700, or tighten it when we own it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_uid == os.getuid():
            path.chmod(0o700)
    except OSError as exc:
        logger.debug("cannot set the mode of the state directory: %s", exc.strerror)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the bridge writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["line311_idle_since"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Any:
    """A pool ``checkout`` hook: ping connections idle past `IDLE_PING_SECONDS`.

    SQLAlchemy's ``pool_pre_ping`` pings on *every* checkout, one extra round trip per
    transaction on the intake hot path. A connection handed back moments ago is alive; one
    that sat idle (or is new) may have been dropped by a server restart or a firewall, so
    only those are pinged. Raising `DisconnectionError` makes the pool discard the
    connection and try a fresh one.
    """

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("line311_idle_since")
        if idle_since is not None and time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"stale pooled connection: {type(exc).__name__}") from exc

    return checkout


def engine_from_settings(settings: Settings) -> Engine:
    """The engine for ``settings.effective_database_url`` (the state directory made private)."""
    if not settings.database_url:
        private_state_dir(settings.state_dir)
    return make_engine(settings.effective_database_url)


create_engine_from_settings = engine_from_settings
"""Alias of `engine_from_settings`."""


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
