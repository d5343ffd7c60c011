"""`line311 db ...`: the database schema (Alembic migrations shipped in the package).

line311 db upgrade [REV]     apply migrations (default: head)
line311 db downgrade REV     revert to REV (``base`` drops every line311 table)
line311 db current           the database's revision and whether it is up to date
"""

from __future__ import annotations

from typing import Annotated

import typer

from line311.config import Settings
from line311.db import engine as db_engine
from line311.db import migrate


def settings_from(ctx: typer.Context) -> Settings:
    from line311.commands.context import settings_from as load

    return load(ctx)


app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = settings_from(ctx)
    engine = db_engine.engine_from_settings(settings)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    where = db_engine.safe_url(engine.url)
    if before == after:
        typer.echo(f"{where}: already at {after}")
    else:
        typer.echo(f"{where}: upgraded {before or 'empty'} -> {after}")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. 0001, -1 or base.")],
) -> None:
    """Revert migrations down to REVISION."""
    settings = settings_from(ctx)
    engine = db_engine.engine_from_settings(settings)
    try:
        before = migrate.current_revision(engine)
        migrate.downgrade(engine, revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"{db_engine.safe_url(engine.url)}: downgraded {before} -> {after or 'base'}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the database's schema revision; exit 1 when it is not the newest."""
    settings = settings_from(ctx)
    engine = db_engine.engine_from_settings(settings)
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind head {head}; run: line311 db upgrade"
    typer.echo(f"{db_engine.safe_url(engine.url)}: {revision or 'empty'} ({state})")
    if revision != head:
        raise typer.Exit(1)
