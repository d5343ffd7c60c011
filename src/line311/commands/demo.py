"""`line311 demo`: simulated residents and CCR phones (SIPp) against the running stack.

line311 demo [--calls-per-minute 20] [--minutes 3] [--curve flat|ramp|peak]
             [--mix en=60,es=25,cmn=5,ru=5,ht=5] [--topics ccr=60,parking=20,...]
             [--agents 4] [--talk-seconds 30] [--token TOKEN]

Start the stack first (``make run`` in another terminal). Without ``--token`` the demo signs
in as the supervisor account ``demo``, created on first run (its password is kept in the
state directory and printed, so you can sign in to the page with it).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from line311.config import Settings
from line311.dashboard.auth import AccountStore, Authenticator, Role
from line311.db.engine import engine_from_settings
from line311.db.migrate import ensure_schema_current
from line311.sim.demo import (
    CURVES,
    LANGUAGE_DIGITS,
    TOPIC_DIGITS,
    Demo,
    DemoError,
    DemoPlan,
    demo_password,
    parse_mix,
)

app = typer.Typer()

DEMO_ACCOUNT = "demo"


def _demo_token(settings: Settings) -> tuple[str, str | None]:
    """A bearer token of the ``demo`` supervisor (created on first run), and its password
    when the demo created or keeps it."""
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
        store = AccountStore(engine)
        principal = store.active(DEMO_ACCOUNT)
        kept = (settings.state_dir / "demo-password").exists()
        password: str | None = demo_password(settings.state_dir)
        if principal is None:
            store.create(DEMO_ACCOUNT, str(password), Role.SUPERVISOR.value)
        elif not kept:
            password = None  # made some other way: we do not know its password
        if principal is not None and principal.role is not Role.SUPERVISOR:
            raise DemoError(f"account {DEMO_ACCOUNT!r} exists but is not a supervisor: use --token")
        auth = Authenticator(store, settings.dashboard_secret.get_secret_value())
        token, _ = auth.bearer_token(DEMO_ACCOUNT, seconds=86_400)
    finally:
        engine.dispose()
    return token, password


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    calls_per_minute: Annotated[
        float, typer.Option(min=0.1, max=600, help="Mean arrival rate of residents.")
    ] = 20.0,
    minutes: Annotated[float, typer.Option(min=0.05, max=600, help="How long calls arrive.")] = 3.0,
    curve: Annotated[str, typer.Option(help=f"Arrival-rate shape: {', '.join(CURVES)}.")] = "flat",
    mix: Annotated[
        str, typer.Option(help=f"Language weights ({', '.join(LANGUAGE_DIGITS)}).")
    ] = "en=60,es=25,cmn=5,ru=5,ht=5",
    topics: Annotated[
        str, typer.Option(help=f"What residents want ({', '.join(TOPIC_DIGITS)}).")
    ] = "ccr=60,parking=20,sanitation=10,closures=10",
    agents: Annotated[int, typer.Option(min=0, max=2000, help="CCR phones agent1..agentN.")] = 4,
    talk_seconds: Annotated[float, typer.Option(min=1, help="Mean CCR talk time.")] = 30.0,
    patience_seconds: Annotated[
        float, typer.Option(min=1, help="Mean wait before giving up.")
    ] = 60.0,
    grace_seconds: Annotated[
        float, typer.Option(min=0, help="At the end, how long calls in progress may finish.")
    ] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Random seed (repeatable runs).")] = None,
    token: Annotated[
        str | None, typer.Option(help="A supervisor bearer token (default: the demo account).")
    ] = None,
) -> None:
    """Drive the RUNNING stack with simulated residents and CCR phones; Ctrl-C stops it."""
    from line311.commands.context import settings_from

    settings = settings_from(ctx)
    if curve not in CURVES:
        raise typer.BadParameter(f"--curve must be one of {', '.join(CURVES)}")
    plan = DemoPlan(
        calls_per_minute=calls_per_minute,
        minutes=minutes,
        curve=curve,
        languages=parse_mix(mix, LANGUAGE_DIGITS, "language"),
        topics=parse_mix(topics, TOPIC_DIGITS, "topic"),
        agents=agents,
        talk_seconds=talk_seconds,
        patience_seconds=patience_seconds,
        grace_seconds=grace_seconds,
        seed=seed,
    )
    password = None
    if token is None:
        token, password = _demo_token(settings)
    base = f"http://{settings.http_host}:{settings.http_port}"
    today = datetime.now(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d")
    typer.echo(f"wallboard   {base}/")
    if password is not None:
        typer.echo(f"            sign in as {DEMO_ACCOUNT} / {password}")
    typer.echo(f"metrics     {base}/metrics")
    typer.echo(f"reports     line311 report sl --from {today}")
    typer.echo(f"            line311 report abandoned --from {today}")
    typer.echo("Ctrl-C stops the demo (its SIPp processes, its calls, its CCRs).")
    with tempfile.TemporaryDirectory(prefix="line311-demo-") as workdir:
        runner = Demo(settings, plan, token, Path(workdir), echo=typer.echo)
        try:
            started = runner.run()
        except KeyboardInterrupt:
            typer.echo("demo stopped")
            raise typer.Exit(130) from None
    summary = ", ".join(f"{n} {topic}" for topic, n in sorted(started.items())) or "none"
    typer.echo(f"demo done: residents called for {summary}")
