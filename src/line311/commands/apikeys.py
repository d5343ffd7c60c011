"""`line311 apikeys ...`: the CRM bridge's scoped API keys (stored hashed).

line311 apikeys create --scope SCOPE --name NAME [--rate R --burst B]   prints the token once
line311 apikeys list [--all] [--json]
line311 apikeys revoke ID

Scopes: controller, agent_desktop, open311_client, admin. ``crm_api_key`` from the settings
stays valid as the bootstrap controller key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from line311.db.api_keys import ApiKeyStore, Scope
from line311.db.engine import engine_from_settings, make_session_factory
from line311.db.migrate import ensure_schema_current

app = typer.Typer(no_args_is_help=True)


@contextmanager
def _store(ctx: typer.Context) -> Iterator[ApiKeyStore]:
    from line311.commands.context import settings_from

    engine = engine_from_settings(settings_from(ctx))
    try:
        ensure_schema_current(engine)
        yield ApiKeyStore(make_session_factory(engine))
    finally:
        engine.dispose()


@app.command()
def create(
    ctx: typer.Context,
    scope: Annotated[Scope, typer.Option(help="What the key may do.")],
    name: Annotated[str, typer.Option(help="Who holds it (shown in lists).")],
    rate: Annotated[
        float | None, typer.Option(min=0.01, help="Requests per second (default: the scope's).")
    ] = None,
    burst: Annotated[
        int | None, typer.Option(min=1, help="Bucket size (default: the scope's).")
    ] = None,
) -> None:
    """Create a key and print its token: the only time it is shown."""
    with _store(ctx) as store:
        key, token = store.create(name, scope, rate_per_second=rate, burst=burst)
    typer.echo(token)
    typer.secho(
        f"key {key.id} ({key.scope}, {key.name!r}) created; the token above is not stored, "
        "keep it now",
        err=True,
    )


@app.command("list")
def list_keys(
    ctx: typer.Context,
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Keys (id, name, scope, token prefix, limits); never a token."""
    with _store(ctx) as store:
        keys = store.list(include_revoked=include_revoked)
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys], indent=2))
        return
    table = Table(title=f"{len(keys)} API keys")
    for column in ("id", "name", "scope", "prefix", "rate/s", "burst", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            str(k.scope),
            k.prefix + "…",
            "-" if k.rate_per_second is None else f"{k.rate_per_second:g}",
            "-" if k.burst is None else str(k.burst),
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-",
        )
    Console().print(table)


@app.command()
def revoke(
    ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key (the bridge stops accepting it within seconds); exit 1 if not live."""
    with _store(ctx) as store:
        if not store.revoke(key_id):
            typer.secho(f"no live API key {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")
