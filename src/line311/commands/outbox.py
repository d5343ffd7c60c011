"""`line311 outbox ...`: the records forwarded to the external CRM.

line311 outbox list [--dead] [--json]   records waiting (or dead-lettered), oldest first
line311 outbox stats [--json]           counts by state; the oldest waiting record
line311 outbox replay ID | --all-dead   send dead records again
line311 outbox deliver [--once]         run the delivery worker here (the CRM bridge
                                        runs one already when crm_webhook_url is set)

Works straight on the database, whether or not the CRM bridge is running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from line311.config import Settings
from line311.db.engine import engine_from_settings, make_session_factory
from line311.db.migrate import ensure_schema_current
from line311.db.outbox import OutboxStore
from line311.errors import ConfigError

app = typer.Typer(no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _settings(ctx: typer.Context) -> Settings:
    from line311.commands.context import settings_from

    return settings_from(ctx)


@contextmanager
def _store(settings: Settings) -> Iterator[OutboxStore]:
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
        yield OutboxStore(make_session_factory(engine))
    finally:
        engine.dispose()


@app.command("list")
def list_records(
    ctx: typer.Context,
    dead: Annotated[bool, typer.Option("--dead", help="Dead-lettered records.")] = False,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most N records.")] = 100,
) -> None:
    """Records not yet delivered (or, with --dead, given up on), oldest first."""
    with _store(_settings(ctx)) as store:
        items = store.list(dead=dead, limit=limit)
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in items], indent=2))
        return
    title = f"{len(items)} {'dead' if dead else 'waiting'} outbox records"
    table = Table(title=title)
    for column in ("id", "kind", "idempotency key", "attempts", "created", "next", "last error"):
        table.add_column(column)
    for i in items:
        table.add_row(
            str(i.id),
            i.kind,
            i.idempotency_key,
            str(i.attempts),
            i.created_at.isoformat(timespec="seconds"),
            "-" if dead else i.next_attempt_at.isoformat(timespec="seconds"),
            i.last_error or "-",
        )
    Console().print(table)


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Counts by state (pending = the backlog) and the oldest waiting record."""
    with _store(_settings(ctx)) as store:
        figures = store.stats()
    if as_json:
        typer.echo(json.dumps(figures.to_dict(), indent=2))
        return
    oldest = figures.oldest_pending_at
    typer.echo(f"pending   {figures.pending}")
    typer.echo(f"delivered {figures.delivered}")
    typer.echo(f"dead      {figures.dead}")
    typer.echo(f"oldest pending: {oldest.isoformat(timespec='seconds') if oldest else '-'}")


@app.command()
def replay(
    ctx: typer.Context,
    record_id: Annotated[int | None, typer.Argument(help="The dead record's id.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead record.")] = False,
) -> None:
    """Make dead records pending again (attempts start over); exit 1 if ID is not dead."""
    if (record_id is None) == (not all_dead):
        raise typer.BadParameter("give either a record ID or --all-dead")
    with _store(_settings(ctx)) as store:
        if all_dead:
            count = store.replay_all_dead()
            typer.echo(f"{count} dead records queued again")
            return
        assert record_id is not None
        if not store.replay(record_id):
            typer.secho(f"outbox record {record_id} is not dead (or does not exist)", err=True)
            raise typer.Exit(1)
        typer.echo(f"outbox record {record_id} queued again")


@app.command()
def deliver(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
) -> None:
    """Deliver the outbox to crm_webhook_url (until Ctrl-C, or once)."""
    from line311.crm_bridge.outbox import DeliveryPolicy, OutboxWorker

    settings = _settings(ctx)
    if not settings.crm_webhook_url:
        raise ConfigError("crm_webhook_url is empty (LINE311_CRM_WEBHOOK_URL): nothing to do")
    secret = settings.crm_webhook_secret.get_secret_value()
    if not secret:
        raise ConfigError("crm_webhook_secret is empty (LINE311_CRM_WEBHOOK_SECRET)")
    policy = DeliveryPolicy(max_attempts=settings.crm_webhook_max_attempts)
    with _store(settings) as store:
        worker = OutboxWorker(store, settings.crm_webhook_url, secret, policy)
        if once:
            report = asyncio.run(worker.drain())
            typer.echo(
                f"claimed {report.claimed}, delivered {report.delivered}, "
                f"to retry {report.retried}, dead {report.dead}"
            )
            return
        try:
            asyncio.run(worker.run())
        except KeyboardInterrupt:
            typer.echo("stopped")
