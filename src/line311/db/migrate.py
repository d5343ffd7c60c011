"""Alembic migrations, driven from code.

The migration scripts ship inside the package (``line311/db/migrations``), so the Alembic
`Config` is built here, in code, with an absolute ``script_location``: it works from any
working directory and from an installed wheel. ``migrations/env.py`` takes the database from
the Config's attributes (``connection`` or ``url``) and only falls back to the settings; the
URL is never read from ``alembic.ini`` (the root ``alembic.ini`` exists for people who like
to run ``alembic`` by hand).

`ensure_schema_current` is what services call at start-up: it refuses a database whose
revision is not this code's head, with a message that says what to run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Union

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from line311.db.engine import make_engine, safe_url
from line311.db.errors import DbError, DbUnavailable, SchemaNotCurrent

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "ensure_schema_current",
    "head_revision",
    "upgrade",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class _DropAlembicChatter(logging.Filter):
    """Alembic says "Context impl ..." / "Will assume ..." on every connection: drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_DropAlembicChatter())
UPGRADE_HINT = "run: line311 db upgrade"


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic Config for our migrations, bound to ``url`` or to an open ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise DbError("no migrations found in the line311 package")
    return head


Target = Union[Engine, str, "Settings"]
"""What to migrate: an engine, a database URL, or settings (their effective database URL)."""


def _engine_for(target: Target) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    if isinstance(target, str):
        return make_engine(target), True
    return make_engine(target.effective_database_url), True


def _run(target: Target, action: str, revision: str) -> None:
    engine, owned = _engine_for(target)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(connection=conn)
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
    except CommandError as exc:
        raise DbError(f"{action} to {revision!r} failed: {exc}") from None
    except SQLAlchemyError as exc:
        raise DbUnavailable(
            f"{action} of {safe_url(engine.url)} failed: {exc.__class__.__name__}: {exc}"
        ) from None
    finally:
        if owned:
            engine.dispose()
    logger.info("database %s: %s to %s done", safe_url(engine.url), action, revision)


def upgrade(target: Target, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (default: the newest)."""
    _run(target, "upgrade", revision)


def downgrade(target: Target, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` removes every table)."""
    _run(target, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty (never migrated) database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise DbUnavailable(
            f"cannot read the schema revision of {safe_url(engine.url)}: {exc}"
        ) from None


def ensure_schema_current(engine: Engine) -> None:
    """Raise `SchemaNotCurrent` unless the database is at this code's head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = safe_url(engine.url)
    if current is None:
        raise SchemaNotCurrent(f"database {where} has no line311 schema yet; {UPGRADE_HINT}")
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current in known:
        raise SchemaNotCurrent(
            f"database {where} is at schema revision {current}, this line311 needs {head}; "
            f"{UPGRADE_HINT}"
        )
    raise SchemaNotCurrent(
        f"database {where} is at schema revision {current}, unknown to this line311 "
        f"(newer code migrated it?); this line311 needs {head}"
    )
