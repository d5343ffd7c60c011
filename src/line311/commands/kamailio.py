"""`line311 kamailio up|down|status`: the SIP edge in front of several Asterisks."""

from __future__ import annotations

import typer

from line311.commands.daemons import down_word, status_json, status_line
from line311.kamailio.manager import KamailioManager

app = typer.Typer(no_args_is_help=True)


def _manager(ctx: typer.Context) -> KamailioManager:
    from line311.commands.context import settings_from

    return KamailioManager(settings_from(ctx))


@app.command()
def up(
    ctx: typer.Context, wait: float = typer.Option(15.0, help="Seconds to wait for OPTIONS.")
) -> None:
    """Start Kamailio (installing Debian's package into the sid root if needed)."""
    mgr = _manager(ctx)
    pid = mgr.start(wait=wait)
    s = mgr.settings
    typer.echo(
        f"Kamailio {mgr.installation.version} ({mgr.installation.mode}) up, pid {pid}\n"
        f"  SIP  udp:{s.sip_host}:{s.sip_port}\n  log  {mgr.log_file}"
    )
    for line in mgr.dispatcher_list().splitlines()[1:]:
        typer.echo(f"  to   {line.split()[1]}")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the Kamailio this checkout started."""
    typer.echo(down_word(_manager(ctx).stop()))


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Say whether Kamailio answers, which Asterisks it sends calls to and, one of a pair, how
    its peers are (exit 1 when down)."""
    st = _manager(ctx).status()
    if as_json:
        typer.echo(status_json(st))
    else:
        answers = f"{st.sip} {'answering' if st.ready else 'not answering'}"
        typer.echo(status_line("Kamailio", st, label=st.instance, answers=answers))
        for d in st.destinations:
            typer.echo(f"  {d.uri}  {'up' if d.active else 'DOWN'} ({d.flags})")
        for p in st.peers:
            typer.echo(f"  peer {p.address}  {'up' if p.active else 'DOWN'} ({p.status})")
    raise typer.Exit(0 if st.ready else 1)
