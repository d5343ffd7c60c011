"""`line311 alerts ...`: pushed alerts from the command line.

``list``, ``show``, ``create`` (typed text, synthesised with TTS), ``submit``, ``approve``,
``reject``, ``withdraw``, and ``set-pin`` for the supervisor phone line. ``create --node``
is checked against the configured IVR flow file (``flow_file``): a node callers would not
hear the alert at is refused with exit status 2, naming the nodes it can target. The acting
supervisor is ``--by`` (default: the login name); every step lands in the alert's audit log.
Times are ISO 8601 (a time without a zone is the city's local time, setting ``timezone``,
whatever the machine's own zone), ``now``, or ``+90m`` / ``+2h`` / ``+1d`` from now. A running
controller picks changes up within its poll interval.
"""

from __future__ import annotations

import getpass
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from datetime import tzinfo

    from line311.messaging.alert_service import AlertService

app = typer.Typer(no_args_is_help=True)

ByOption = Annotated[str, typer.Option("--by", help="Acting supervisor (default: login name).")]
NoteOption = Annotated[str, typer.Option("--note", help="A note for the audit log.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_RELATIVE = re.compile(r"^\+(\d+)([mhd])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, now: datetime, tz: tzinfo) -> datetime:
    """``now``, ``+<n>m|h|d`` or ISO 8601 as an aware datetime; a time without a zone is a
    wall-clock time in ``tz`` (the city's zone: a supervisor types New York times even on a
    server that runs in UTC), daylight saving time included."""
    text = text.strip()
    if text == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use ISO 8601, 'now' or +90m / +2h / +1d") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def _service(ctx: typer.Context) -> AlertService:
    from line311.commands.context import settings_from
    from line311.db import engine_from_settings, ensure_schema_current, make_session_factory
    from line311.messaging.alert_service import AlertService
    from line311.messaging.alert_store import AlertStore

    settings = settings_from(ctx)
    engine = engine_from_settings(settings)
    ensure_schema_current(engine)
    return AlertService.from_settings(settings, AlertStore(make_session_factory(engine)))


def _by(by: str) -> str:
    return by or getpass.getuser()


def _line(alert: object) -> str:
    from line311.messaging.alerts import Alert

    assert isinstance(alert, Alert)
    langs = ",".join(sorted(alert.audio)) or "-"
    window = f"{alert.starts_at:%Y-%m-%d %H:%M}..{alert.ends_at:%Y-%m-%d %H:%M}Z"
    return (
        f"{alert.id:<18} {alert.state.value:<17} p{alert.priority} {alert.kind.value:<16} "
        f"{window}  audio:{langs:<10} {alert.title}"
    )


def _audience(alert: object) -> str:
    """Who hears an IVR alert, and when (docs/alerts.md, "Who hears an alert")."""
    from line311.messaging.alerts import Alert

    assert isinstance(alert, Alert)
    target = alert.targeting
    langs = ", ".join(sorted(target.languages))
    if target.node is not None:
        return f"entering node {target.node}" + (f", in {langs}" if langs else "")
    if langs:
        return f"of {langs}, right after the language choice"
    return "every caller, right after the greeting"


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only these states (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first."""
    from line311.messaging.alerts import AlertState
    from line311.messaging.feed import alert_json

    try:
        states = [AlertState(s) for s in state] if state else None
    except ValueError:
        raise typer.BadParameter(f"states: {', '.join(s.value for s in AlertState)}") from None
    service = _service(ctx)
    alerts = service.list_alerts(states)
    problems = service.node_problems(alerts)
    if as_json:
        docs = [alert_json(a, problems.get(a.id)) for a in alerts]
        typer.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    for alert in alerts:
        typer.echo(_line(alert) + ("  [node not in the flow]" if alert.id in problems else ""))
    if not alerts:
        typer.echo("no alerts")


@app.command()
def show(ctx: typer.Context, alert_id: str, as_json: JsonOption = False) -> None:
    """Show an alert, its audio and its audit log."""
    from line311.messaging.feed import alert_json

    service = _service(ctx)
    alert = service.get(alert_id)
    audit = service.audit(alert_id)
    assets = service.assets(alert_id)
    problem = service.node_problems([alert]).get(alert.id)
    if as_json:
        doc = alert_json(alert, problem)
        doc["audit"] = [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action.value,
             "to_state": e.to_state.value, "note": e.note}
            for e in audit
        ]  # fmt: skip
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    typer.echo(_line(alert))
    typer.echo(f"  author {alert.author}, approved by {alert.approved_by or '-'}")
    if alert.kind.for_callers:
        typer.echo(f"  callers: {_audience(alert)}")
    if problem is not None:
        instead = alert_json(alert, problem)["node_problem"]["played_instead"]
        where = {
            "greeting": "right after the greeting instead",
            "language": "right after the language choice instead",
            None: "nowhere yet: approving it is refused while its node is not in the flow",
        }[instead]
        typer.echo(f"  node problem ({problem.reason}): {problem.message}; plays {where}")
    if alert.ccr_text:
        typer.echo(f"  CCR message: {alert.ccr_text}")
    for lang, text in sorted(alert.texts.items()):
        typer.echo(f"  text {lang}: {text}")
    for asset in assets:
        typer.echo(
            f"  audio {asset.language}: {asset.source.value} {asset.duration:.1f} s "
            f"{asset.rms_dbfs:.0f} dBFS ({asset.ref})"
        )
    for e in audit:
        note = f"  ({e.note})" if e.note else ""
        typer.echo(f"  {e.at:%Y-%m-%d %H:%M:%S}Z {e.actor:<12} {e.action.value:<9} "
                   f"-> {e.to_state.value}{note}")  # fmt: skip


@app.command()
def create(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="Short title.")],
    start: Annotated[
        str, typer.Option("--start", help="When it starts (no zone: the city's local time).")
    ] = "now",
    end: Annotated[
        str, typer.Option("--end", help="When it ends, exclusive (no zone: city local time).")
    ] = "+2h",
    text_en: Annotated[str, typer.Option("--text-en", help="English text (spoken).")] = "",
    text_es: Annotated[str, typer.Option("--text-es")] = "",
    text_cmn: Annotated[str, typer.Option("--text-cmn", help="Pinyin for espeak-ng.")] = "",
    text_yue: Annotated[str, typer.Option("--text-yue")] = "",
    text_ru: Annotated[str, typer.Option("--text-ru")] = "",
    text_ko: Annotated[str, typer.Option("--text-ko")] = "",
    text_ht: Annotated[str, typer.Option("--text-ht")] = "",
    ccr_text: Annotated[str, typer.Option("--ccr-text", help="Message shown to CCRs.")] = "",
    kind: Annotated[str, typer.Option("--kind", help="ivr_announcement|ccr_message|both")] = "",
    priority: Annotated[int, typer.Option("--priority", min=1, max=9, help="1 = first")] = 5,
    language: Annotated[
        list[str] | None, typer.Option("--language", "-l", help="Only callers of these.")
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            "--node",
            help="Only callers entering this node of the IVR flow, on entering it "
            "(not the greeting: without --node every caller hears it right after it).",
        ),
    ] = None,
    submit: Annotated[bool, typer.Option("--submit", help="Submit for approval.")] = False,
    by: ByOption = "",
) -> None:
    """Create an alert from typed text (synthesised with TTS); optionally submit it."""
    from line311.messaging.alerts import AlertKind
    from line311.messaging.errors import InvalidAlertNode

    texts = {
        lang: value
        for lang, value in (
            ("en", text_en), ("es", text_es), ("cmn", text_cmn), ("yue", text_yue),
            ("ru", text_ru), ("ko", text_ko), ("ht", text_ht),
        )
        if value.strip()
    }  # fmt: skip
    if not kind:
        kind = "both" if texts and ccr_text else ("ccr_message" if ccr_text else "ivr_announcement")
    try:
        alert_kind = AlertKind(kind)
    except ValueError:
        raise typer.BadParameter(f"--kind: {', '.join(k.value for k in AlertKind)}") from None
    if alert_kind.for_callers and not texts:
        raise typer.BadParameter("give the spoken text, e.g. --text-en '...'")
    from zoneinfo import ZoneInfo

    from line311.commands.context import settings_from

    city = ZoneInfo(settings_from(ctx).timezone)
    service = _service(ctx)
    now = service.now()
    actor = _by(by)
    try:
        alert = service.create(
            actor=actor,
            title=title,
            kind=alert_kind,
            starts_at=parse_when(start, now, city).astimezone(UTC),
            ends_at=parse_when(end, now, city).astimezone(UTC),
            priority=priority,
            languages=language or (),
            node=node,
            texts=texts,
            ccr_text=ccr_text or (title if alert_kind.for_ccrs else ""),
        )
    except InvalidAlertNode as exc:  # checked against the configured flow file
        raise typer.BadParameter(str(exc).removeprefix("node: "), param_hint="'--node'") from None
    if texts and alert_kind.for_callers:
        for asset in service.synthesize(alert.id, actor=actor):
            typer.echo(f"audio {asset.language}: {asset.duration:.1f} s")
        alert = service.get(alert.id)  # with its audio (the line below lists it)
    if submit:
        alert = service.submit(alert.id, actor=actor)
    typer.echo(_line(alert))


def _act(ctx: typer.Context, action: str, alert_id: str, by: str, note: str) -> None:
    from line311.messaging.alerts import Action
    from line311.messaging.errors import InvalidAlertNode

    try:
        alert = _service(ctx).act(alert_id, Action(action), actor=_by(by), note=note)
    except InvalidAlertNode as exc:  # approving: its node has left the flow since
        typer.echo(f"error: alert {alert_id}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(_line(alert))


@app.command()
def submit(ctx: typer.Context, alert_id: str, by: ByOption = "", note: NoteOption = "") -> None:
    """Submit a draft for approval."""
    _act(ctx, "submit", alert_id, by, note)


@app.command()
def approve(ctx: typer.Context, alert_id: str, by: ByOption = "", note: NoteOption = "") -> None:
    """Approve a pending alert (four-eyes: not its author, nor anyone who changed it)."""
    _act(ctx, "approve", alert_id, by, note)


@app.command()
def reject(ctx: typer.Context, alert_id: str, by: ByOption = "", note: NoteOption = "") -> None:
    """Send a pending alert back to its author as a draft."""
    _act(ctx, "reject", alert_id, by, note)


@app.command()
def withdraw(ctx: typer.Context, alert_id: str, by: ByOption = "", note: NoteOption = "") -> None:
    """Withdraw an alert: no new call hears it, CCR desktops drop it."""
    _act(ctx, "withdraw", alert_id, by, note)


@app.command("set-pin")
def set_pin(
    ctx: typer.Context,
    username: str,
    phone_id: Annotated[str, typer.Option("--phone-id", help="Digits keyed on the phone.")],
    pin: Annotated[
        str, typer.Option("--pin", prompt=True, hide_input=True, confirmation_prompt=True)
    ],
) -> None:
    """Let a supervisor sign in on the phone line (the PIN is stored hashed)."""
    from line311.messaging.alert_store import Supervisor
    from line311.messaging.pins import hash_pin

    if not (phone_id.isdigit() and 3 <= len(phone_id) <= 8):
        raise typer.BadParameter("--phone-id: 3 to 8 digits")
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise typer.BadParameter("--pin: 4 to 12 digits")
    service = _service(ctx)
    service.store.set_supervisor(Supervisor(username, phone_id, hash_pin(pin)), service.now())
    typer.echo(f"{username} may sign in on the supervisor line with id {phone_id}")
