"""Report routes of the operations dashboard (included by `create_dashboard_router`).

    GET /api/reports/sl         ?from=&to=[&interval=][&format=json|csv]   SL and volume
                                (interval in seconds, a multiple of 900; 0: totals only)
    GET /api/reports/abandoned  ?from=&to=[&format=json|csv]               abandoned calls
    GET /api/reports/monthly    ?month=YYYY-MM[&format=json|csv]           month by queue, language

``from`` / ``to`` are POSIX seconds (as before) or ISO-8601 dates or date-times; a date, or a
date-time without an offset, is in the dashboard's time zone. ``from`` defaults to the start
of today, ``to`` to now. A range must be finite, ordered and at most `MAX_REPORT_DAYS` long
(400 otherwise); reports are built in a worker thread, off the loop that runs the calls.
Calls are reported by the time they *entered* a queue; each queue is measured with its own
threshold and goal.

When the app is given ``events`` (a loader of stored queue events, `line311.db.queue_models`),
every report reads the database, so any range works, months and years back. Without it (a
demo without a database) they read what the live state keeps in memory: today's intervals,
and the newest 10,000 calls of the abandoned list — the same calls (abandoned, timed out,
callbacks with their outcome) and fields as from the database, by the same function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from line311.dashboard.errors import NoStorageError, ReportRequestError
from line311.dashboard.live import LiveHub
from line311.queue.days import local_date_start
from line311.queue.errors import InvalidParameterError
from line311.queue.events import QueueEvent
from line311.queue.monthly import build_monthly_report, month_bounds, render_monthly_csv
from line311.queue.ranges import FOLLOW_UP, fold
from line311.queue.report import (
    REPORT_INTERVALS,
    abandoned_calls,
    build_sl_report,
    render_abandoned_csv,
    render_csv,
)

__all__ = ["EventLoader", "create_reports_router"]

EventLoader = Callable[[float, float], Sequence[QueueEvent]]
"""``(start, end) -> stored queue events with start <= at < end``."""

From = Annotated[str | None, Query(alias="from", description="POSIX seconds or ISO-8601")]
To = Annotated[str | None, Query(alias="to", description="POSIX seconds or ISO-8601")]
Fmt = Annotated[str, Query(alias="format", pattern="^(json|csv)$")]

MAX_REPORT_DAYS: Final = 400


def create_reports_router(
    hub: LiveHub,
    reader: Any,
    clock: Callable[[], float],
    events: EventLoader | None = None,
) -> APIRouter:
    """The report routes; ``reader`` is the dependency that admits readers."""
    router = APIRouter()

    def moment(value: str | None, name: str, default: float) -> float:
        if value is None or value == "":
            return default
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(seconds) or seconds < 0:
                raise ReportRequestError(f"{name} must be finite POSIX seconds, got {value!r}")
            return seconds
        tz = hub.state.tz
        try:
            if len(value) == 10:
                return local_date_start(date.fromisoformat(value), tz)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ReportRequestError(
                f"{name} must be POSIX seconds or an ISO-8601 date or date-time, got {value!r}"
            ) from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).timestamp()

    def bounded(lo: float, hi: float) -> tuple[float, float]:
        if hi <= lo:
            raise ReportRequestError(f"'to' ({hi}) must be after 'from' ({lo})")
        if hi - lo > MAX_REPORT_DAYS * 86_400:
            raise ReportRequestError(f"a report covers at most {MAX_REPORT_DAYS} days")
        return lo, hi

    def window(start: str | None, end: str | None) -> tuple[float, float]:
        now = clock()
        lo = moment(start, "from", hub.state.snapshot(now)["day_start"])
        return bounded(lo, moment(end, "to", now + 1))

    async def stored(start: float, end: float) -> list[QueueEvent]:
        assert events is not None
        return list(await run_in_threadpool(events, start, end + FOLLOW_UP))

    def csv_response(text: str, name: str) -> Response:
        return PlainTextResponse(
            text,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="line311-{name}.csv"'},
        )

    @router.get("/api/reports/sl")
    async def report_sl(
        principal: Any = reader,
        start: From = None,
        end: To = None,
        interval: Annotated[
            int, Query(description="seconds: 900, 1800 or 3600; 0: totals only")
        ] = 1800,
        fmt: Fmt = "json",
    ) -> Response:
        if interval not in REPORT_INTERVALS:
            raise ReportRequestError(
                f"interval must be 900, 1800 or 3600 seconds, or 0 for totals; got {interval}"
            )
        state = hub.state
        now = clock()
        lo, hi = bounded(
            moment(start, "from", state.snapshot(now)["day_start"] // 900 * 900),
            moment(end, "to", (int(now // 900) + 1) * 900),
        )
        policies = state.policies
        tz = state.tz
        if events is not None:
            source: Sequence[QueueEvent] | None = await stored(lo, hi)
            live = None
        else:
            source, live = None, state.accumulator.intervals()  # read on the loop

        def build() -> Response:  # in a worker thread: a long range is real work
            if source is not None:
                stats, agent_time = fold(source, lo, hi, policies, now=now)
            else:
                assert live is not None
                stats, agent_time = live, None
            rows = build_sl_report(
                stats, lo, hi, interval=interval or None, policy=policies, agent_time=agent_time
            )
            if fmt == "csv":
                return csv_response(render_csv(rows, policies, tz), "sl")
            return JSONResponse({"rows": [row.values(policies, tz) for row in rows]})

        return await run_in_threadpool(build)

    @router.get("/api/reports/abandoned")
    async def report_abandoned(
        principal: Any = reader, start: From = None, end: To = None, fmt: Fmt = "json"
    ) -> Response:
        lo, hi = window(start, end)
        tz = hub.state.tz
        if events is not None:
            calls = abandoned_calls(await stored(lo, hi), lo, hi, now=clock())
        else:  # the same list, from the events the live state keeps of the listed calls
            calls = hub.state.abandoned_calls(lo, hi, now=clock())
        if fmt == "csv":
            return csv_response(render_abandoned_csv(calls, tz), "abandoned")
        return JSONResponse({"calls": [c.values(tz) for c in calls]})

    @router.get("/api/reports/monthly")
    async def report_monthly(
        principal: Any = reader,
        month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")] = "",
        fmt: Fmt = "json",
    ) -> Response:
        state = hub.state
        tz = state.tz
        if not month:
            month = datetime.fromtimestamp(clock(), tz).strftime("%Y-%m")
        try:
            lo, hi = month_bounds(month, tz)
        except InvalidParameterError as exc:
            raise ReportRequestError(str(exc)) from None
        if events is not None:
            source: Sequence[QueueEvent] = await stored(lo, hi)
        else:
            raise NoStorageError("the monthly report needs the stored queue events (a database)")
        rows = build_monthly_report(source, month, lo, hi, state.policies)
        if fmt == "csv":
            return csv_response(render_monthly_csv(rows), f"monthly-{month}")
        return JSONResponse(
            {
                "month": month,
                "from": datetime.fromtimestamp(lo, tz).isoformat(),
                "to": datetime.fromtimestamp(hi, tz).isoformat(),
                "formula": state.policy.formula.value,
                "rows": [r.values() for r in rows],
            }
        )

    return router
