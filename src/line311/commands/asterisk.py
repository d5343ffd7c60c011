"""`line311 asterisk up|down|status|render|cli`: the Asterisk(s) that line311 drives.

With ``asterisks >= 2`` (``LINE311_ASTERISKS``) each command acts on every Asterisk of the
fleet (`line311.asterisk.fleet`); ``cli`` takes ``--server k``. Kamailio in front of them is
``line311 kamailio``."""

from __future__ import annotations

import typer

from line311.asterisk.manager import AsteriskManager
from line311.commands.daemons import down_word, status_json, status_line

app = typer.Typer(no_args_is_help=True)


def _managers(ctx: typer.Context) -> list[AsteriskManager]:
    from line311.asterisk.fleet import asterisk_fleet
    from line311.commands.context import settings_from

    return [AsteriskManager(s) for s in asterisk_fleet(settings_from(ctx))]


@app.command()
def up(
    ctx: typer.Context, wait: float = typer.Option(30.0, help="Seconds to wait for ARI.")
) -> None:
    """Start Asterisk (building the Debian sid root once if needed) and wait for ARI."""
    for mgr in _managers(ctx):
        pid = mgr.start(wait=wait)
        s = mgr.settings
        typer.echo(
            f"Asterisk {mgr.installation.version} ({mgr.installation.mode}, instance "
            f"{s.asterisk_instance}) up, pid {pid}\n"
            f"  SIP  udp:{s.sip_host}:{s.sip_port}\n  ARI  {s.ari_url}/ari (app {s.ari_app})\n"
            f"  log  {mgr.log_file}"
        )


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the Asterisk(s) this checkout started."""
    for mgr in _managers(ctx):
        stopped = mgr.stop()
        typer.echo(f"{mgr.settings.asterisk_instance}: {down_word(stopped)}")


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Say whether Asterisk runs and ARI answers (exit 1 when one is not ready)."""
    ready = True
    for mgr in _managers(ctx):
        ready = _show_status(mgr, as_json) and ready
    raise typer.Exit(0 if ready else 1)


def _show_status(mgr: AsteriskManager, as_json: bool) -> bool:
    st = mgr.status()
    if as_json:
        typer.echo(status_json(st))
    else:
        answers = "ARI ready" if st.ari_ready else "ARI not answering"
        typer.echo(status_line("Asterisk", st, label=f"instance {st.instance}", answers=answers))
    return st.ari_ready


@app.command()
def render(ctx: typer.Context) -> None:
    """Render the configs from asterisk_conf/ without starting anything."""
    for mgr in _managers(ctx):
        written = mgr.render()
        typer.echo(
            f"rendered {len(written)} changed file(s) for instance {mgr.settings.asterisk_instance}"
        )


@app.command("cli")
def cli_(
    ctx: typer.Context,
    command: str = typer.Argument(..., help="e.g. 'pjsip show endpoints'"),
    server: int = typer.Option(1, "--server", min=1, help="Which Asterisk (1..asterisks)."),
) -> None:
    """Run an Asterisk CLI command on the running instance."""
    managers = _managers(ctx)
    if server > len(managers):
        raise typer.BadParameter(f"there are {len(managers)} Asterisk(s)", param_hint="--server")
    typer.echo(managers[server - 1].cli(command), nl=False)
