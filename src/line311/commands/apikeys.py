"""`line311 apikeys ...`: the CRM bridge's scoped API keys (stored hashed).

line311 apikeys create --scope SCOPE --name NAME [--agent CCR] [--rate R --burst B]
                                                                          prints the token once
line311 apikeys list [--all] [--json]
line311 apikeys revoke ID

Scopes: controller, agent_desktop, open311_client, admin. ``crm_api_key`` from the settings
stays valid as the bootstrap controller key. An agent_desktop key belongs to one CCR
(``--agent``, an id as in the roster) and reads only that CCR's calls and screen pops; desk
keys made before that are listed as ``unbound``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from line311.config import Settings
from line311.db.api_keys import ApiKey, ApiKeyStore, InvalidApiKey, Scope, check_binding
from line311.db.engine import engine_from_settings, make_session_factory
from line311.db.migrate import ensure_schema_current
from line311.routing.errors import RoutingConfigError
from line311.routing.roster import load_roster_file, roster_ids

app = typer.Typer(no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    from line311.commands.context import settings_from

    return settings_from(ctx)


@contextmanager
def _store(settings: Settings) -> Iterator[ApiKeyStore]:
    engine = engine_from_settings(settings)
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
    agent: Annotated[
        str | None,
        typer.Option(
            help="The CCR (roster id) an agent_desktop key belongs to: required for that "
            "scope, refused for the others.",
        ),
    ] = None,
) -> None:
    """Create a key and print its token: the only time it is shown."""
    try:
        check_binding(scope, agent)
    except InvalidApiKey as exc:
        typer.secho(f"line311 apikeys: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = _settings(ctx)
    if agent is not None:
        _warn_if_not_rostered(settings, agent)
    with _store(settings) as store:
        key, token = store.create(name, scope, rate_per_second=rate, burst=burst, agent_id=agent)
    typer.echo(token)
    owner = f", CCR {key.agent_id}" if key.agent_id else ""
    typer.secho(
        f"key {key.id} ({key.scope}{owner}, {key.name!r}) created; the token above is not "
        "stored, keep it now",
        err=True,
    )


def _warn_if_not_rostered(settings: Settings, agent: str) -> None:
    """A typo in ``--agent`` makes a key that sees nothing: say so when the roster lacks it
    (a warning only: the roster may be rolled out after the desk's key)."""
    try:
        known = roster_ids(load_roster_file(Path(settings.agents_file)))
    except RoutingConfigError as exc:
        typer.secho(f"warning: could not check {agent!r} against the roster: {exc}", err=True)
        return
    if agent not in known:
        typer.secho(
            f"warning: {agent!r} is not in the roster ({settings.agents_file}); the key will "
            "see no call until calls or screen pops name that CCR",
            err=True,
        )


def _agent_column(key: ApiKey) -> str:
    if key.unbound:
        return "unbound"
    return key.agent_id or "-"


@app.command("list")
def list_keys(
    ctx: typer.Context,
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Keys (id, name, scope, CCR, token prefix, limits); never a token. A desk key made
    before keys were bound to a CCR shows as ``unbound``: it reads every call."""
    with _store(_settings(ctx)) as store:
        keys = store.list(include_revoked=include_revoked)
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys], indent=2))
        return
    table = Table(title=f"{len(keys)} API keys")
    columns = ("id", "name", "scope", "agent", "prefix", "rate/s", "burst", "created", "revoked")
    for column in columns:
        table.add_column(column)
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            str(k.scope),
            _agent_column(k),
            k.prefix + "…",
            "-" if k.rate_per_second is None else f"{k.rate_per_second:g}",
            "-" if k.burst is None else str(k.burst),
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-",
        )
    Console().print(table)
    unbound = sum(k.unbound and k.revoked_at is None for k in keys)
    if unbound:
        typer.secho(
            f"{unbound} agent_desktop key(s) are unbound and read every call: create one per "
            "desk with --agent, then revoke these",
            err=True,
        )


@app.command()
def revoke(
    ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key (the bridge stops accepting it within seconds); exit 1 if not live."""
    with _store(_settings(ctx)) as store:
        if not store.revoke(key_id):
            typer.secho(f"no live API key {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")
