"""`line311 accounts ...`: who may sign in to the operations dashboard.

line311 accounts create USER --role operations|supervisor [--password-stdin]
line311 accounts list [--json]
line311 accounts disable USER
line311 accounts token USER [--days N]      print a bearer token for API use
line311 accounts revoke-tokens USER         every bearer token of USER stops working
line311 accounts sign-out USER              every dashboard session of USER ends

Passwords are stored only as salted scrypt hashes; without ``--password-stdin`` the password
is prompted for (twice, not echoed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from line311.dashboard.auth import AccountStore, Authenticator, Role
from line311.dashboard.errors import AccountError
from line311.db.engine import engine_from_settings
from line311.db.migrate import ensure_schema_current

app = typer.Typer(no_args_is_help=True)


@contextmanager
def _store(ctx: typer.Context) -> Iterator[tuple[AccountStore, str]]:
    from line311.commands.context import settings_from

    settings = settings_from(ctx)
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
        yield AccountStore(engine), settings.dashboard_secret.get_secret_value()
    finally:
        engine.dispose()


@app.command()
def create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Sign-in name (a-z 0-9 . _ - @).")],
    role: Annotated[Role, typer.Option(help="operations (read-only) or supervisor (can act).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _store(ctx) as (store, _):
        try:
            account = store.create(username, password, role.value)
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
    typer.echo(f"account {account.username} ({account.role.value}) created")


@app.command("list")
def list_accounts(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Accounts with role and status (never a password hash)."""
    with _store(ctx) as (store, _):
        accounts = store.accounts()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "username": a.username,
                        "role": a.role.value,
                        "disabled": a.disabled,
                        "created_at": a.created_at.isoformat(),
                    }
                    for a in accounts
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"{len(accounts)} dashboard accounts")
    for column in ("username", "role", "status", "created"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            a.username,
            a.role.value,
            "disabled" if a.disabled else "active",
            a.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@app.command()
def disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account to disable.")],
) -> None:
    """Disable an account: its sessions and tokens stop working at once."""
    with _store(ctx) as (store, _):
        try:
            store.disable(username)
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
    typer.echo(f"account {username} disabled")


@app.command("revoke-tokens")
def revoke_tokens(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account whose tokens to revoke.")],
) -> None:
    """Revoke every bearer token issued so far to an account."""
    with _store(ctx) as (store, _):
        try:
            store.revoke_tokens(username)
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
    typer.echo(f"bearer tokens of {username} revoked")


@app.command("sign-out")
def sign_out(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account to sign out everywhere.")],
) -> None:
    """End every dashboard session of an account."""
    with _store(ctx) as (store, _):
        try:
            store.end_sessions(username)
        except AccountError as exc:
            raise typer.BadParameter(str(exc)) from None
    typer.echo(f"sessions of {username} ended")


@app.command()
def token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The account the token acts as.")],
    days: Annotated[float, typer.Option(min=0.01, max=365, help="Validity in days.")] = 30,
) -> None:
    """Print a bearer token (``Authorization: Bearer ...``) for API use."""
    with _store(ctx) as (store, secret):
        if store.active(username.lower()) is None:
            raise typer.BadParameter(f"no active account {username!r}")
        value, _ = Authenticator(store, secret).bearer_token(username.lower(), seconds=days * 86400)
    typer.echo(value)
