"""`line311 calls ...`: read finished call records straight from the database.

Works whether or not the CRM bridge is running (it reads through the repository). There is
no caller number to show: records hold only a keyed hash of it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from line311.db.calls import MAX_PAGE, Call, CallRepository
from line311.db.engine import engine_from_settings, make_session_factory
from line311.db.migrate import ensure_schema_current

app = typer.Typer(no_args_is_help=True)


def _repository(ctx: typer.Context) -> tuple[CallRepository, Engine]:
    from line311.commands.context import settings_from

    settings = settings_from(ctx)
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
    except Exception:
        engine.dispose()
        raise
    return CallRepository(make_session_factory(engine)), engine


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _duration(call: Call) -> str:
    seconds = int((call.ended_at - call.started_at).total_seconds())
    return f"{seconds // 60}:{seconds % 60:02d}"


@app.command("list")
def list_calls(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="At most N calls.")] = 50,
    outcome: Annotated[str | None, typer.Option(help="Only calls with this outcome.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only calls that waited in this queue.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only calls handled by this agent.")] = None,
    language: Annotated[str | None, typer.Option(help="Only calls in this language.")] = None,
) -> None:
    """The most recent calls, newest first."""
    repo, engine = _repository(ctx)
    try:
        page = repo.list_calls(
            outcome=outcome, queue=queue, agent=agent, language=language, limit=limit
        )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in page.items], indent=2))
        return
    table = Table(title=f"{len(page.items)} most recent calls")
    table.add_column("call id", no_wrap=True)
    table.add_column("dialed", no_wrap=True)
    for column in ("started", "duration", "outcome", "lang", "queue", "agent"):
        table.add_column(column)
    for c in page.items:
        table.add_row(
            c.call_id,
            c.dialed_number,
            _when(c.started_at),
            _duration(c),
            c.outcome,
            c.language,
            c.queue or "-",
            c.agent_id or "-",
        )
    Console().print(table)


@app.command("show")
def show_call(
    ctx: typer.Context,
    call_id: Annotated[str, typer.Argument(help="The call's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Everything stored about one call; exit 1 when there is no such call."""
    repo, engine = _repository(ctx)
    try:
        call = repo.get_call(call_id)
    finally:
        engine.dispose()
    if call is None:
        typer.secho(f"no call {call_id!r}", fg="red", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(call.to_dict(), indent=2))
        return
    table = Table(show_header=False, title=f"call {call.call_id}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in call.to_dict().items():
        if key == "path":
            value = json.dumps(value)
        table.add_row(key, "-" if value is None else str(value))
    Console().print(table)
