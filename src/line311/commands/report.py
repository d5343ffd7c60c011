"""`line311 report ...`: service-level reports.

``report sl`` measures the stored queue events (the ``queue_events`` table the controller
writes) over a date range; ``report abandoned`` lists the abandoned calls and the callbacks;
``report monthly`` gives a month's offered / answered / abandoned / SL / ASA by queue and
language; ``report queue-log FILE`` measures an Asterisk-format queue_log (ours, or a real
Asterisk's). All use the pure report builders of `line311.queue.report` and
`line311.queue.monthly`; each queue is measured with its own ``sl_threshold`` / ``sl_goal``
(queues.yaml) when it sets them. Tables fit the terminal's width (`line311.commands.tables`)
and every time printed carries its UTC offset.

Service level, by default (``sl_formula = exclude-short-abandons``)::

    SL = answered within T / (answered + (abandoned - abandoned within S) + timed out)

with T = 30 s (``sl_threshold``) and S = 5 s (``sl_short_abandon``); goal 80%. Calls count in
the interval in which they *entered* the queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from line311.commands.tables import print_note, print_table
from line311.queue.days import local_date_start
from line311.queue.errors import InvalidParameterError
from line311.queue.intervals import IntervalAccumulator
from line311.queue.monthly import build_monthly_report, month_bounds, render_monthly_csv
from line311.queue.queue_log import events_from_records, parse_lines
from line311.queue.report import (
    SlReportRow,
    abandoned_calls,
    build_sl_report,
    render_abandoned_csv,
    render_csv,
)
from line311.queue.service_level import DEFAULT_POLICY, SlFormula, SlPolicies, SlPolicy

app = typer.Typer(no_args_is_help=True)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if percent else f"{value:.1f}"


def _when(at: float, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``at`` in ``tz`` with its UTC offset (``2026-11-02 09:30-05:00``)."""
    moment = datetime.fromtimestamp(at, tz)
    offset = moment.strftime("%z")
    return moment.strftime(fmt) + f"{offset[:3]}:{offset[3:]}"


def _zone_name(tz: ZoneInfo) -> str:
    return tz.key


def _print_table(rows: list[SlReportRow], policy: SlPolicy | SlPolicies, tz: ZoneInfo) -> None:
    policies = SlPolicies.of(policy)
    headers = [
        "queue",
        f"from ({_zone_name(tz)})",
        "offered",
        "answered",
        "≤T",
        "T s",
        "abandoned",
        "short",
        "SL",
        "goal",
        "ASA s",
        "AHT s",
        "longest s",
    ]
    cells = []
    for row in rows:
        s = row.stats
        own = policies(row.queue)
        cells.append(
            [
                row.queue,
                "total" if row.is_total else _when(row.start, tz),
                str(s.offered),
                str(s.answered),
                str(s.answered_within),
                f"{s.threshold:g}",
                str(s.abandoned),
                str(s.short_abandons),
                _fmt(s.service_level(own.formula), percent=True),
                f"{own.goal:.0%}",
                _fmt(s.asa),
                _fmt(s.aht),
                _fmt(s.longest_wait),
            ]
        )
    print_table(headers, cells, key=2, bold_rows=[r.is_total for r in rows])


@app.command("queue-log")
def queue_log_report(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A queue_log file.")],
    from_day: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (local to --tz).")
    ],
    to_day: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included (default: --from)."),
    ] = None,
    interval: Annotated[
        int, typer.Option(help="Row length in seconds (multiple of 900); 0 for totals only.")
    ] = 1800,
    tz: Annotated[
        str, typer.Option(help="Time zone of the days and of the output.")
    ] = "America/New_York",
    threshold: Annotated[float, typer.Option(min=0.001)] = DEFAULT_POLICY.threshold,
    goal: Annotated[float, typer.Option(min=0.01, max=1.0)] = DEFAULT_POLICY.goal,
    formula: Annotated[SlFormula, typer.Option()] = DEFAULT_POLICY.formula,
    short_abandon: Annotated[float, typer.Option(min=0)] = DEFAULT_POLICY.short_abandon_threshold,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
) -> None:
    """Service level per queue and interval, measured from an Asterisk-format queue_log."""
    zone = _zone(tz)
    first, last = from_day.date(), (to_day or from_day).date()
    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    policy = SlPolicy(
        threshold=threshold, goal=goal, formula=formula, short_abandon_threshold=short_abandon
    )
    accumulator = IntervalAccumulator(policy)
    with path.open(encoding="utf-8", errors="replace") as lines:
        accumulator.feed_all(events_from_records(parse_lines(lines)))
    rows = build_sl_report(
        accumulator.intervals(),
        local_date_start(first, zone),
        local_date_start(last + timedelta(days=1), zone),
        interval=interval or None,
        queues=queue or None,
        policy=policy,
        agent_time=accumulator.agent_time(),
        include_empty=as_csv,  # a table lists only intervals with calls
    )
    if as_csv:
        typer.echo(render_csv(rows, policy, zone), nl=False)
    else:
        _print_table(rows, policy, zone)


def _range(from_day: datetime, to_day: datetime | None, tz: str) -> tuple[float, float, ZoneInfo]:
    zone = _zone(tz)
    first, last = from_day.date(), (to_day or from_day).date()
    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    return local_date_start(first, zone), local_date_start(last + timedelta(days=1), zone), zone


def _engine(ctx: typer.Context) -> tuple[Any, SlPolicies]:
    from line311.commands.context import settings_from
    from line311.db.engine import engine_from_settings
    from line311.db.migrate import ensure_schema_current

    settings = settings_from(ctx)
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
    except Exception:
        engine.dispose()
        raise
    return engine, settings.sl_policies()


_FROM = typer.Option("--from", formats=["%Y-%m-%d"], help="First day (local to --tz).")
_TO = typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included (default: --from).")


@app.command("sl")
def sl_report(
    ctx: typer.Context,
    from_day: Annotated[datetime, _FROM],
    to_day: Annotated[datetime | None, _TO] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues.")] = None,
    interval: Annotated[
        int, typer.Option(help="Row length in minutes: 15 or 30 (0: totals only).")
    ] = 30,
    tz: Annotated[str, typer.Option(help="Time zone of the days and output.")] = "America/New_York",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
) -> None:
    """Service level per queue and 15/30-minute interval from the stored queue events.

    Default SL: answered within 30 s / (answered + abandoned after 5 s + timed out)
    (settings sl_threshold, sl_short_abandon, sl_formula, sl_goal; a queue's own
    sl_threshold / sl_goal in queues.yaml win)."""
    import time as _time

    from line311.db.queue_models import stored_stats

    if interval not in (0, 15, 30, 60):
        raise typer.BadParameter("use 15, 30, 60 or 0", param_hint="--interval")
    start, end, zone = _range(from_day, to_day, tz)
    engine, policy = _engine(ctx)
    try:
        stats, agent_time = stored_stats(engine, start, end, policy, now=_time.time())
    finally:
        engine.dispose()
    rows = build_sl_report(
        stats,
        start,
        end,
        interval=interval * 60 or None,
        queues=queue or None,
        policy=policy,
        agent_time=agent_time,
        include_empty=as_csv,
    )
    if as_csv:
        typer.echo(render_csv(rows, policy, zone), nl=False)
        return
    _print_table(rows, policy, zone)
    default = policy.default
    print_note(
        f"SL = {default.formula.value}, threshold {default.threshold:g} s, goal "
        f"{default.goal:.0%} (unless the queue sets its own: columns T and goal), "
        f"short abandons <= {default.short_abandon_threshold:g} s"
    )


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


_FORMAT = typer.Option("--format", help="table (fits the terminal), csv or json.")


@app.command("abandoned")
def abandoned_report(
    ctx: typer.Context,
    from_day: Annotated[datetime, _FROM],
    to_day: Annotated[datetime | None, _TO] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the days and output.")] = "America/New_York",
    fmt: Annotated[Format, _FORMAT] = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Abandoned and timed-out calls, and every callback with its outcome, that entered a
    queue in the date range (from the stored queue events: any range, not only today)."""
    import json
    import time as _time

    from line311.db.queue_models import load_events
    from line311.queue.ranges import FOLLOW_UP

    start, end, zone = _range(from_day, to_day, tz)
    engine, _ = _engine(ctx)
    try:
        events = load_events(engine, start, end + FOLLOW_UP)
    finally:
        engine.dispose()
    calls = abandoned_calls(events, start, end, now=_time.time())
    if as_json:
        fmt = Format.json
    if fmt is Format.json:
        typer.echo(json.dumps({"calls": [c.values(zone) for c in calls]}, indent=2))
        return
    if fmt is Format.csv:
        typer.echo(render_abandoned_csv(calls, zone), nl=False)
        return
    headers = [
        f"entered ({_zone_name(zone)})",
        "queue",
        "call",
        "waited s",
        "outcome",
        "ended",
        "callback asked",
        "agent",
    ]
    cells = [
        [
            _when(c.entered_at, zone, "%Y-%m-%d %H:%M:%S"),
            c.queue,
            c.call_id,
            f"{c.waited:.1f}",
            c.outcome,
            "-" if c.ended_at is None else _when(c.ended_at, zone, "%H:%M:%S"),
            "-"
            if c.callback_requested_at is None
            else _when(c.callback_requested_at, zone, "%H:%M:%S"),
            c.agent_id or "-",
        ]
        for c in calls
    ]
    print_table(headers, cells, key=1, title=f"{len(calls)} calls")


def _month(value: str, tz: ZoneInfo) -> tuple[float, float]:
    try:
        return month_bounds(value, tz)
    except InvalidParameterError as exc:
        raise typer.BadParameter(str(exc), param_hint="--month") from None


@app.command("monthly")
def monthly_report(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (local to --tz).")],
    tz: Annotated[str, typer.Option(help="Time zone of the month.")] = "America/New_York",
    fmt: Annotated[Format, _FORMAT] = Format.table,
) -> None:
    """A month's calls offered, answered and abandoned, SL and ASA, by queue and language
    (each queue's SL by its own threshold; rows over several queues add each queue's calls
    that met their own threshold)."""
    import json

    from line311.db.queue_models import load_events
    from line311.queue.ranges import FOLLOW_UP

    zone = _zone(tz)
    start, end = _month(month, zone)
    engine, policy = _engine(ctx)
    try:
        events = load_events(engine, start, end + FOLLOW_UP)
    finally:
        engine.dispose()
    rows = build_monthly_report(events, month, start, end, policy)
    if fmt is Format.csv:
        typer.echo(render_monthly_csv(rows), nl=False)
        return
    if fmt is Format.json:
        doc = {
            "month": month,
            "from": datetime.fromtimestamp(start, zone).isoformat(),
            "to": datetime.fromtimestamp(end, zone).isoformat(),
            "formula": policy.formula.value,
            "rows": [r.values() for r in rows],
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    headers = [
        "queue",
        "language",
        "offered",
        "answered",
        "abandoned",
        "SL",
        "T s",
        "goal",
        "ASA s",
    ]
    cells = [
        [
            r.queue,
            r.language,
            str(r.offered),
            str(r.answered),
            str(r.abandoned),
            _fmt(r.service_level, percent=True),
            "-" if r.threshold is None else f"{r.threshold:g}",
            "-" if r.goal is None else f"{r.goal:.0%}",
            _fmt(r.asa),
        ]
        for r in rows
    ]
    print_table(
        headers,
        cells,
        key=2,
        title=(f"{month}: {_when(start, zone)} to {_when(end, zone)} ({_zone_name(zone)})"),
        bold_rows=[r.scope != "queue-language" for r in rows],
    )
    print_note(
        f"SL = {policy.formula.value} by each queue's own threshold T; "
        "rows over several queues (language, total) count each call against its queue's T."
    )
