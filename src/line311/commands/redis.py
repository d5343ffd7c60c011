"""`line311 redis up|down|status`: the Redis that holds line311's live state."""

from __future__ import annotations

from typing import Literal

import typer

from line311.commands.daemons import down_word, status_json, status_line
from line311.live.server import DEFAULT_PORT, RedisServer
from line311.live.tls import OWN_TLS_DIR

app = typer.Typer(no_args_is_help=True)

PortOption = typer.Option(DEFAULT_PORT, envvar="LINE311_REDIS_PORT", help="Loopback TCP port.")
ModeOption = typer.Option(
    "auto", envvar="LINE311_REDIS_MODE", help="auto | system (PATH) | chroot (Debian sid root)."
)
InstanceOption = typer.Option("main", envvar="LINE311_REDIS_INSTANCE", help="Instance name.")


def _server(ctx: typer.Context, port: int, mode: str, instance: str) -> RedisServer:
    from line311.commands.context import settings_from

    if mode not in ("auto", "system", "chroot"):
        raise typer.BadParameter(f"mode must be auto, system or chroot, not {mode!r}")
    chosen: Literal["auto", "system", "chroot"] = mode  # type: ignore[assignment]
    s = settings_from(ctx)
    return RedisServer(
        s.state_dir,
        port=port,
        instance=instance,
        mode=chosen,
        root=s.effective_asterisk_root,
        password=s.redis_password.get_secret_value(),
        tls_dir=s.state_dir / OWN_TLS_DIR if s.redis_tls else None,
    )


@app.command()
def up(
    ctx: typer.Context,
    port: int = PortOption,
    mode: str = ModeOption,
    instance: str = InstanceOption,
    wait: float = typer.Option(15.0, help="Seconds to wait for PING."),
) -> None:
    """Start Redis (installing Debian's package into the sid root if needed) and wait for it."""
    server = _server(ctx, port, mode, instance)
    pid = server.start(wait=wait)
    inst = server.installation
    typer.echo(
        f"Redis {inst.version} ({inst.mode}) up, pid {pid}\n  url  {server.url}\n"
        f"  data {server.data_dir}\n  log  {server.log_file}"
    )


@app.command()
def down(
    ctx: typer.Context,
    port: int = PortOption,
    mode: str = ModeOption,
    instance: str = InstanceOption,
) -> None:
    """Stop the Redis this checkout started."""
    typer.echo(down_word(_server(ctx, port, mode, instance).stop()))


@app.command()
def status(
    ctx: typer.Context,
    port: int = PortOption,
    mode: str = ModeOption,
    instance: str = InstanceOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Say whether our Redis runs and answers PING (exit 1 when not ready)."""
    st = _server(ctx, port, mode, instance).status()
    if as_json:
        typer.echo(status_json(st))
    else:
        answers = f"{st.url} {'answering' if st.ready else 'not answering'}"
        typer.echo(status_line("Redis", st, label=f"instance {st.instance}", answers=answers))
    raise typer.Exit(0 if st.ready else 1)
