"""`line311 report ...`: service-level reports.

``report sl`` measures the stored queue events (the ``queue_events`` table the controller
writes) over a date range; ``report abandoned`` lists the abandoned calls and the callbacks;
``report queue-log FILE`` measures an Asterisk-format queue_log (ours, or a real Asterisk's).
All use the same pure report builder, `line311.queue.report`.

Service level, by default (``sl_formula = exclude-short-abandons``)::

    SL = answered within T / (answered + (abandoned - abandoned within S) + timed out)

with T = 30 s (``sl_threshold``) and S = 5 s (``sl_short_abandon``); goal 80%. Calls count in
the interval in which they *entered* the queue.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from line311.queue.intervals import IntervalAccumulator
from line311.queue.queue_log import events_from_records, parse_lines
from line311.queue.report import SlReportRow, abandoned_calls, build_sl_report, render_csv
from line311.queue.service_level import DEFAULT_POLICY, SlFormula, SlPolicy

app = typer.Typer(no_args_is_help=True)


def _day_start(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tz).timestamp()


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if percent else f"{value:.1f}"


def _print_table(rows: list[SlReportRow], policy: SlPolicy, tz: ZoneInfo) -> None:
    table = Table(
        "queue",
        "from",
        "offered",
        "answered",
        "≤T",
        "abandoned",
        "short",
        "SL",
        "ASA s",
        "AHT s",
        "longest s",
    )
    for row in rows:
        s = row.stats
        when = (
            "total"
            if row.is_total
            else datetime.fromtimestamp(row.start, tz).strftime("%Y-%m-%d %H:%M")
        )
        table.add_row(
            row.queue,
            when,
            str(s.offered),
            str(s.answered),
            str(s.answered_within),
            str(s.abandoned),
            str(s.short_abandons),
            _fmt(s.service_level(policy.formula), percent=True),
            _fmt(s.asa),
            _fmt(s.aht),
            _fmt(s.longest_wait),
            style="bold" if row.is_total else None,
        )
    Console().print(table)


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
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
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
        _day_start(first, zone),
        _day_start(last + timedelta(days=1), zone),
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
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    first, last = from_day.date(), (to_day or from_day).date()
    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    return _day_start(first, zone), _day_start(last + timedelta(days=1), zone), zone


def _engine(ctx: typer.Context) -> tuple[Any, SlPolicy]:
    from line311.cli import settings_from  # the root imports this module
    from line311.db.engine import engine_from_settings
    from line311.db.migrate import ensure_schema_current

    settings = settings_from(ctx)
    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
    except Exception:
        engine.dispose()
        raise
    return engine, settings.sl_policy()


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
    (settings sl_threshold, sl_short_abandon, sl_formula, sl_goal)."""
    from line311.db.queue_models import stored_stats

    if interval not in (0, 15, 30, 60):
        raise typer.BadParameter("use 15, 30, 60 or 0", param_hint="--interval")
    start, end, zone = _range(from_day, to_day, tz)
    engine, policy = _engine(ctx)
    try:
        stats, agent_time = stored_stats(engine, start, end, policy)
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
    typer.echo(
        f"SL = {policy.formula.value}, threshold {policy.threshold:g} s, goal "
        f"{policy.goal:.0%}, short abandons <= {policy.short_abandon_threshold:g} s"
    )


@app.command("abandoned")
def abandoned_report(
    ctx: typer.Context,
    from_day: Annotated[datetime, _FROM],
    to_day: Annotated[datetime | None, _TO] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the days and output.")] = "America/New_York",
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Abandoned and timed-out calls, and every callback with its outcome."""
    import json
    import time as _time

    from line311.db.queue_models import FOLLOW_UP, load_events

    start, end, zone = _range(from_day, to_day, tz)
    engine, _ = _engine(ctx)
    try:
        events = load_events(engine, start, end + FOLLOW_UP)
    finally:
        engine.dispose()
    calls = abandoned_calls(events, start, end, now=_time.time())
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "calls": [
                        {
                            "call_id": c.call_id,
                            "queue": c.queue,
                            "entered_at": c.entered_at,
                            "ended_at": c.ended_at,
                            "waited": round(c.waited, 3),
                            "outcome": c.outcome,
                            "callback_requested_at": c.callback_requested_at,
                            "agent_id": c.agent_id,
                        }
                        for c in calls
                    ]
                },
                indent=2,
            )
        )
        return
    table = Table("entered", "queue", "call", "waited s", "outcome", "callback asked", "agent")
    for c in calls:
        table.add_row(
            datetime.fromtimestamp(c.entered_at, zone).strftime("%Y-%m-%d %H:%M:%S"),
            c.queue,
            c.call_id,
            f"{c.waited:.1f}",
            c.outcome,
            "-"
            if c.callback_requested_at is None
            else datetime.fromtimestamp(c.callback_requested_at, zone).strftime("%H:%M:%S"),
            c.agent_id or "-",
        )
    Console().print(table)
