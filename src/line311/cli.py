"""The one command line: ``line311 ...`` (also ``python -m line311``).

Each area keeps its commands in a typer sub-app next to its code; this module only mounts
them and turns line311's own errors into a clear message and a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from line311.commands import accounts as accounts_cmd
from line311.commands import alerts, asterisk, calls, db, flows, report, simulate, sounds, staffing
from line311.commands import apikeys as apikeys_cmd
from line311.commands import demo as demo_cmd
from line311.commands import kamailio as kamailio_cmd
from line311.commands import outbox as outbox_cmd
from line311.commands import redis as redis_cmd
from line311.commands.context import settings_from
from line311.errors import ConfigError, Line311Error

app = typer.Typer(
    name="line311",
    help="IVR and call routing for a city's 311 line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(asterisk.app, name="asterisk", help="Manage the Asterisk that line311 drives.")
app.add_typer(calls.app, name="calls", help="Read finished call records.")
app.add_typer(db.app, name="db", help="Database schema (Alembic migrations).")
app.add_typer(outbox_cmd.app, name="outbox", help="Records forwarded to the external CRM.")
app.add_typer(apikeys_cmd.app, name="apikeys", help="Scoped API keys of the CRM bridge.")
app.add_typer(sounds.app, name="sounds", help="Build and check the prompt library.")
app.add_typer(flows.app, name="flows", help="Validate and reload IVR call flows.")
app.add_typer(report.app, name="report", help="Service-level and volume reports.")
app.add_typer(simulate.app, name="simulate", help="Discrete-event simulation of a call-center day.")
app.add_typer(staffing.app, name="staffing", help="Erlang C / Erlang A staffing.")
app.add_typer(alerts.app, name="alerts", help="Pushed alerts: list, show, approve, withdraw.")
app.add_typer(accounts_cmd.app, name="accounts", help="Dashboard accounts and roles.")
app.add_typer(demo_cmd.app, name="demo", help="Simulated residents and CCRs on the running stack.")
app.add_typer(redis_cmd.app, name="redis", help="Manage the Redis that holds the live state.")
app.add_typer(
    kamailio_cmd.app, name="kamailio", help="Manage the Kamailio SIP edge (asterisks >= 2)."
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (also LINE311_CONFIG).", exists=False),
]


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Store the --config path for sub-commands (read by `commands.context.settings_from`)."""
    ctx.obj = {"config": config}


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run the call controller (ARI client + HTTP /health) until Ctrl-C."""
    from line311.bootstrap import run_controller

    run_controller(settings_from(ctx))


@app.command("crm-bridge")
def crm_bridge(ctx: typer.Context) -> None:
    """Run the CRM bridge API until Ctrl-C."""
    from line311.bootstrap import run_crm_bridge

    run_crm_bridge(settings_from(ctx))


@app.command()
def run(
    ctx: typer.Context,
    asterisks: int | None = typer.Option(
        None,
        "--asterisks",
        min=1,
        max=16,
        help="Asterisk servers behind a Kamailio edge (default: the asterisks setting, 1).",
    ),
) -> None:
    """Supervise the whole stack on loopback (Asterisk, Redis, CRM bridge, controller as separate
    processes, restarted when they die); Ctrl-C stops all."""
    import os

    from line311.bootstrap import run_stack

    if asterisks is not None:
        os.environ["LINE311_ASTERISKS"] = str(asterisks)  # the children read the same setting
    run_stack(settings_from(ctx))


@app.command()
def status(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show the processes `line311 run` supervises (exit 1 when one is not running)."""
    from line311.commands.supervise import show_status

    raise typer.Exit(show_status(settings_from(ctx), as_json=as_json))


@app.command()
def restart(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The process to restart: controller."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the restart to finish."),
) -> None:
    """Restart a process of `line311 run` without dropping a call (rolling: the new one starts
    and takes the calls over before the old one leaves); exit 1 if it does not finish."""
    from line311.commands.supervise import restart_process

    raise typer.Exit(restart_process(settings_from(ctx), name, timeout=timeout))


@app.command()
def config(ctx: typer.Context) -> None:
    """Validate the settings and print them (secrets masked)."""
    settings = settings_from(ctx)
    for name, value in sorted(settings.model_dump().items()):
        typer.echo(f"{name} = {value}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"line311: configuration error: {exc}", fg="red", err=True)
        sys.exit(2)
    except Line311Error as exc:
        typer.secho(f"line311: {exc}", fg="red", err=True)
        sys.exit(1)
