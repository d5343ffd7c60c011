"""`line311 asterisk up|down|status|render|cli`: the Asterisk that line311 drives."""

from __future__ import annotations

import json

import typer

from line311.asterisk.manager import AsteriskManager

app = typer.Typer(no_args_is_help=True)


def _manager(ctx: typer.Context) -> AsteriskManager:
    from line311.commands.context import settings_from

    return AsteriskManager(settings_from(ctx))


@app.command()
def up(
    ctx: typer.Context, wait: float = typer.Option(30.0, help="Seconds to wait for ARI.")
) -> None:
    """Start Asterisk (building the Debian sid root once if needed) and wait for ARI."""
    mgr = _manager(ctx)
    pid = mgr.start(wait=wait)
    s = mgr.settings
    typer.echo(
        f"Asterisk {mgr.installation.version} ({mgr.installation.mode}) up, pid {pid}\n"
        f"  SIP  udp:{s.sip_host}:{s.sip_port}\n  ARI  {s.ari_url}/ari (app {s.ari_app})\n"
        f"  log  {mgr.log_file}"
    )


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the Asterisk this checkout started."""
    mgr = _manager(ctx)
    typer.echo("stopped" if mgr.stop() else "not running")


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Say whether Asterisk runs and ARI answers (exit 1 when not ready)."""
    st = _manager(ctx).status()
    if as_json:
        payload = {
            "instance": st.instance,
            "mode": st.mode,
            "version": st.version,
            "pid": st.pid,
            "running": st.running,
            "ari_ready": st.ari_ready,
            "sip": st.sip,
            "ari_url": st.ari_url,
            "log_file": str(st.log_file),
        }
        typer.echo(json.dumps(payload))
    else:
        state = "running" if st.running else "stopped"
        ari = "ARI ready" if st.ari_ready else "ARI not answering"
        typer.echo(
            f"Asterisk {st.version} ({st.mode}, instance {st.instance}): {state}"
            + (f", pid {st.pid}, {ari}" if st.running else "")
        )
    raise typer.Exit(0 if st.ari_ready else 1)


@app.command()
def render(ctx: typer.Context) -> None:
    """Render the configs from asterisk_conf/ without starting anything."""
    mgr = _manager(ctx)
    written = mgr.render()
    typer.echo(
        f"rendered {len(written)} changed file(s) for instance {mgr.settings.asterisk_instance}"
    )


@app.command("cli")
def cli_(
    ctx: typer.Context, command: str = typer.Argument(..., help="e.g. 'pjsip show endpoints'")
) -> None:
    """Run an Asterisk CLI command on the running instance."""
    typer.echo(_manager(ctx).cli(command), nl=False)
