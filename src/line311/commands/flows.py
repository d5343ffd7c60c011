"""`line311 flows ...`: validate and draw IVR call flows.

``validate`` loads a flow file (default: the shipped 311 flow) and checks it against the prompt
catalogue (``catalogue_dir``, default ``content/catalogue``); any problem is reported naming
the node and the command exits non-zero. ``show`` prints the flow as a table, as a Mermaid
diagram, or the session's (state, event) transition table. ``reload`` asks the running
controller (``POST /api/flows/reload`` on its HTTP port) to re-read its flow and self-service
content files; a file that does not validate is refused there and the old one stays in use.
Reloading needs a supervisor: ``--token`` (or ``LINE311_TOKEN``) passes a bearer token,
``--as USER`` signs a one-minute token for that account from the local configuration and database.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from line311.ivr.flow import Flow, default_flow_path, load_flow_file, mermaid

app = typer.Typer(no_args_is_help=True)

PathArgument = Annotated[
    Path | None,
    typer.Argument(help="Flow YAML file (default: the shipped 311 flow)."),
]


def _load(ctx: typer.Context, path: Path | None, *, check_prompts: bool = True) -> Flow:
    from line311.commands.context import settings_from
    from line311.ivr.catalogue import load_catalogue

    catalogue = None
    if check_prompts:
        catalogue = load_catalogue(settings_from(ctx).catalogue_dir)
    return load_flow_file(path or default_flow_path(), catalogue=catalogue)


@app.command()
def validate(ctx: typer.Context, path: PathArgument = None) -> None:
    """Check a flow: references, reachability, loops, languages and prompt ids."""
    flow = _load(ctx, path)
    typer.echo(
        f"ok: flow {flow.name!r} version {flow.version}: {len(flow.nodes)} nodes, "
        f"{len(flow.prompt_ids())} prompts, all in seven languages"
    )


@app.command()
def show(
    ctx: typer.Context,
    path: PathArgument = None,
    as_mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print a Mermaid flowchart instead of a table.")
    ] = False,
    states: Annotated[
        bool, typer.Option("--states", help="Print the session's transition table instead.")
    ] = False,
) -> None:
    """Print a flow as a table (default), a Mermaid diagram, or the session state table."""
    if states:
        from line311.ivr.session import transition_table

        state_rows = sorted(
            (state.value, event.__name__, handler)
            for (state, event), handler in transition_table().items()
        )
        _table(("state", "event", "handler"), state_rows)
        return
    flow = _load(ctx, path, check_prompts=False)
    if as_mermaid:
        typer.echo(mermaid(flow), nl=False)
        return
    rows: list[tuple[str, ...]] = []
    for node in flow.nodes.values():
        if node.options:
            leads = ", ".join(f"{k}->{v}" for k, v in sorted(node.options.items()))
            if node.next:
                leads += f" then {node.next}"
        else:
            leads = node.next or node.endpoint or ""
        detail = node.info or node.agency or node.prompt or " ".join(node.prompts.get("en", ()))
        start = "*" if node.id == flow.start else ""
        rows.append((start + node.id, node.kind.value, node.topic or "", leads, detail))
    _table(("node", "kind", "topic", "leads to", "says / does"), rows)
    s = flow.settings
    typer.echo(
        f"\n0 -> {s.representative}; after {s.max_attempts} invalid/missing entries -> "
        f"{s.on_exhausted}; digit timeout {s.digit_timeout:g}s; max in IVR {s.max_call:g}s"
    )


def _signed_token(ctx: typer.Context, username: str) -> str:
    from line311.commands.accounts import _store
    from line311.dashboard.errors import DashboardError

    with _store(ctx) as (store, secret):
        from line311.dashboard.auth import Authenticator

        try:
            value, _ = Authenticator(store, secret).bearer_token(username.lower(), seconds=60)
        except DashboardError as exc:
            raise typer.BadParameter(f"--as {username}: {exc}") from None
    return value


@app.command()
def reload(
    ctx: typer.Context,
    token: Annotated[
        str | None,
        typer.Option(envvar="LINE311_TOKEN", help="Bearer token of a supervisor account."),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Sign a short token for this supervisor account locally."),
    ] = None,
) -> None:
    """Make the running controller re-read its flow and content files (calls in progress
    finish on the flow they started on)."""
    import json

    import httpx

    from line311.commands.context import settings_from

    settings = settings_from(ctx)
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
    url = f"http://{host}:{settings.http_port}/api/flows/reload"
    if as_user is not None:
        token = _signed_token(ctx, as_user)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(url, timeout=30.0, trust_env=False, headers=headers)
    except httpx.HTTPError as exc:
        typer.echo(f"error: the controller is not reachable at {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    report = body.get("details", body) if isinstance(body, dict) else {}
    flow, content = report.get("flow", {}), report.get("content", {})
    if response.status_code == 200:
        typer.echo(
            f"ok: flow {flow.get('name')!r} version {flow.get('version')} "
            f"({flow.get('fingerprint')}), content version {content.get('version')} "
            f"({content.get('fingerprint')}); new calls use them"
        )
        for orphan in flow.get("orphaned_alerts") or ():
            instead = (
                "language choice" if orphan.get("played_instead") == "language" else "greeting"
            )
            typer.echo(
                f"warning: live alert {orphan.get('alert_id')} targets node "
                f"{orphan.get('node')!r}, which this flow does not have ({orphan.get('reason')}): "
                f"it now plays right after the {instead}; withdraw it or put the node back "
                "(docs/alerts.md)",
                err=True,
            )
        return
    if response.status_code == 422:
        for what, part in (("flow", flow), ("content", content)):
            if not part.get("ok", True):
                typer.echo(f"refused {what}: {part.get('error')}", err=True)
        typer.echo("the controller keeps the previous version of each refused file", err=True)
        raise typer.Exit(1)
    if response.status_code in (401, 403):
        typer.echo(
            "error: reloading needs a supervisor: pass --as USER or --token (LINE311_TOKEN)",
            err=True,
        )
    typer.echo(f"error: HTTP {response.status_code}: {json.dumps(body)[:500]}", err=True)
    raise typer.Exit(1)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
