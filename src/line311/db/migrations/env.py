"""Alembic environment for line311.

The database comes from the Config's attributes: ``connection`` (an open SQLAlchemy
Connection, used by `line311.db.migrate`) or ``url``; failing both, from line311's settings
(``LINE311_DATABASE_URL`` / the SQLite default). Never from ``alembic.ini``.
SQLite runs in batch mode so ALTER-style migrations work there too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from line311.db.engine import make_engine
from line311.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    from line311.config import load_settings

    return load_settings().effective_database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
