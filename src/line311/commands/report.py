"""`line311 report ...`: service-level reports.

``report queue-log FILE`` measures an Asterisk-format queue_log (ours, or a real Asterisk's)
over a date range. ``report sl`` (from stored queue events) follows when storage of queue
events exists; both use the same pure report builder, `line311.queue.report`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from line311.queue.intervals import IntervalAccumulator
from line311.queue.queue_log import events_from_records, parse_lines
from line311.queue.report import SlReportRow, build_sl_report, render_csv
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
