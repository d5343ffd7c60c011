"""The one command line: ``line311 ...`` (also ``python -m line311``).

Each area keeps its commands in a typer sub-app next to its code; this module only mounts
them and turns line311's own errors into a clear message and a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from line311.commands.context import settings_from
from line311.errors import ConfigError, Line311Error

if TYPE_CHECKING:
    from typer._click import Command, Context  # the click typer's groups are made of

AREAS: dict[str, tuple[str, str]] = {
    "asterisk": ("asterisk", "Manage the Asterisk that line311 drives."),
    "calls": ("calls", "Read finished call records."),
    "db": ("db", "Database schema (Alembic migrations)."),
    "outbox": ("outbox", "Records forwarded to the external CRM."),
    "apikeys": ("apikeys", "Scoped API keys of the CRM bridge."),
    "sounds": ("sounds", "Build and check the prompt library."),
    "flows": ("flows", "Validate and reload IVR call flows."),
    "report": ("report", "Service-level and volume reports."),
    "simulate": ("simulate", "Discrete-event simulation of a call-center day."),
    "staffing": ("staffing", "Erlang C / Erlang A staffing."),
    "alerts": ("alerts", "Pushed alerts: list, show, approve, withdraw."),
    "accounts": ("accounts", "Dashboard accounts and roles."),
    "demo": ("demo", "Simulated residents and CCRs on the running stack."),
    "redis": ("redis", "Manage the Redis that holds the live state."),
    "kamailio": ("kamailio", "Manage the Kamailio SIP edge (asterisks >= 2)."),
}
"""Each area's sub-app: command name -> (module in `line311.commands`, help)."""


class _Areas(TyperGroup):
    """The root group: each area's sub-app (`AREAS`) is imported when it is run, not on every
    ``line311 ...``. Importing all of them (SQLAlchemy, Alembic, FastAPI, the simulator) cost
    about a second per invocation, paid by every ``line311 status`` or ``calls list``."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *AREAS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in AREAS:
            return super().get_command(ctx, cmd_name)
        module, help_text = AREAS[cmd_name]
        sub: typer.Typer = importlib.import_module(f"line311.commands.{module}").app
        group = typer.main.get_group(sub)
        group.name, group.help = cmd_name, help_text
        return group


app = typer.Typer(
    name="line311",
    help="IVR and call routing for a city's 311 line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_Areas,
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
def serve(
    ctx: typer.Context,
    worker: int = typer.Option(
        0,
        "--worker",
        min=0,
        max=16,
        help="Run IVR worker K (1..ivr_workers, app <ari_app>-wK) instead of the controller.",
    ),
) -> None:
    """Run the call controller (ARI client + HTTP /health) until Ctrl-C; with --worker K,
    IVR worker K."""
    if worker:
        from line311.bootstrap import run_ivr_worker

        run_ivr_worker(settings_from(ctx), worker)
        return
    from line311.bootstrap import run_controller

    run_controller(settings_from(ctx))


@app.command()
def dashboard(ctx: typer.Context) -> None:
    """Run the dashboard as its own process (wallboard, sign-in, reports on http_port; the
    rest forwarded to the controller on controller_http_port) until Ctrl-C. Needs
    dashboard_process = true, for the controller too (`line311 run` sets it)."""
    from line311.bootstrap import run_dashboard

    run_dashboard(settings_from(ctx))


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
    name: str = typer.Argument(
        ...,
        help="The process to restart: controller, ivr-worker-K or dashboard (SIGHUP rolls them "
        "all).",
    ),
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
    from line311.supervise.spare import await_turn

    await_turn()  # a warm spare waits here for its turn (`line311.supervise.spare`)
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"line311: configuration error: {exc}", fg="red", err=True)
        sys.exit(2)
    except Line311Error as exc:
        typer.secho(f"line311: {exc}", fg="red", err=True)
        sys.exit(1)
