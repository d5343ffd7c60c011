"""Service-level reports: rows per queue and interval over any date range, and CSV.

Input is what `line311.queue.intervals.IntervalAccumulator.intervals` (or storage) gives:
statistics per (queue, 15-minute interval start). A report interval (30 minutes, an hour, a
day in UTC) is the sum of the 15-minute intervals inside it, and each queue gets a total row
for the whole range, so a report over any range is exact. Intervals are reported by the time
calls *entered* the queue. Pure: no clock, no files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final

from line311.queue.errors import InvalidParameterError
from line311.queue.service_level import (
    BASE_INTERVAL,
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    SlPolicies,
    SlPolicy,
)

__all__ = [
    "ABANDONED_COLUMNS",
    "CSV_COLUMNS",
    "REPORT_INTERVALS",
    "AbandonedCall",
    "SlReportRow",
    "abandoned_calls",
    "build_sl_report",
    "csv_cell",
    "render_abandoned_csv",
    "render_csv",
]

REPORT_INTERVALS: Final = (0, 900, 1800, 3600)
"""The row lengths the report APIs offer (0: totals only). Rows start on multiples of their
length since the epoch, so these line up with the quarter hours and hours of a center whose
time zone is a whole number of hours off UTC (New York's is); a day's row would not (it
would run from 19:00 or 20:00 there), so a day is asked for as a range with totals only."""

CSV_COLUMNS = (
    "scope",
    "queue",
    "interval_start",
    "interval_end",
    "offered",
    "answered",
    "answered_within_threshold",
    "abandoned",
    "abandoned_within_threshold",
    "short_abandons",
    "timed_out",
    "callbacks_requested",
    "service_level",
    "goal_met",
    "asa_seconds",
    "abandon_rate",
    "aht_seconds",
    "longest_wait_seconds",
    "occupancy",
    "sl_threshold_seconds",
    "sl_goal",
)


@dataclass(frozen=True, slots=True)
class SlReportRow:
    """One line of a service-level report: ``queue`` over [``start``, ``end``) (POSIX seconds).

    ``is_total`` marks the row that covers the whole range for the queue. ``occupancy`` is
    all agents' (agents serve several queues), present when agent time was given.
    """

    queue: str
    start: int
    end: int
    stats: IntervalStats
    is_total: bool = False
    occupancy: float | None = None

    def values(
        self, policy: SlPolicy | SlPolicies = DEFAULT_POLICY, tz: tzinfo = UTC
    ) -> dict[str, object]:
        """The row as CSV_COLUMNS -> value (times ISO-8601 in ``tz``, with their offset;
        ratios in [0, 1]). With `SlPolicies`, the row's queue's own threshold and goal."""
        policy = SlPolicies.of(policy)(self.queue)
        s = self.stats
        sl = s.service_level(policy.formula)
        return {
            "scope": "total" if self.is_total else "interval",
            "queue": self.queue,
            "interval_start": datetime.fromtimestamp(self.start, tz).isoformat(),
            "interval_end": datetime.fromtimestamp(self.end, tz).isoformat(),
            "offered": s.offered,
            "answered": s.answered,
            "answered_within_threshold": s.answered_within,
            "abandoned": s.abandoned,
            "abandoned_within_threshold": s.abandoned_within,
            "short_abandons": s.short_abandons,
            "timed_out": s.timed_out,
            "callbacks_requested": s.callbacks_requested,
            "service_level": sl,
            "goal_met": None if sl is None else sl >= policy.goal,
            "asa_seconds": s.asa,
            "abandon_rate": s.abandon_rate,
            "aht_seconds": s.aht,
            "longest_wait_seconds": s.longest_wait,
            "occupancy": self.occupancy,
            "sl_threshold_seconds": policy.threshold,
            "sl_goal": policy.goal,
        }


def _aligned(name: str, value: float) -> int:
    if value != int(value) or int(value) % BASE_INTERVAL:
        raise InvalidParameterError(
            f"report {name} must fall on a 15-minute boundary (POSIX seconds divisible by "
            f"{BASE_INTERVAL}), got {value}"
        )
    return int(value)


def build_sl_report(
    stats: Mapping[tuple[str, int], IntervalStats],
    start: float,
    end: float,
    *,
    interval: int | None = 1800,
    queues: Iterable[str] | None = None,
    policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
    agent_time: Mapping[int, AgentTimeStats] | None = None,
    include_empty: bool = True,
) -> list[SlReportRow]:
    """Rows for every queue and every ``interval``-second interval in [``start``, ``end``),
    then one total row per queue. ``interval=None`` gives only the totals.

    ``stats`` is keyed by (queue, 15-minute interval start); ``start`` and ``end`` must be
    15-minute boundaries and ``interval`` a multiple of 900 s. ``queues`` defaults to every
    queue in ``stats``; ``include_empty`` lists intervals with no calls as zero rows.
    ``agent_time`` (per 15-minute interval start) adds occupancy. ``policy`` may give each
    queue its own threshold (`SlPolicies`); the stats must have been counted with it.
    """
    first, last = _aligned("start", start), _aligned("end", end)
    if last <= first:
        raise InvalidParameterError(f"report end {end} must be after its start {start}")
    if interval is not None and (interval <= 0 or interval % BASE_INTERVAL):
        raise InvalidParameterError(f"report interval must be a multiple of 900 s, got {interval}")
    names = sorted(set(queues) if queues is not None else {q for q, _ in stats})
    policies = SlPolicies.of(policy)

    def occupancy(lo: int, hi: int) -> float | None:
        if agent_time is None:
            return None
        total = AgentTimeStats()
        for s in range(lo, hi, BASE_INTERVAL):
            part = agent_time.get(s)
            if part is not None:
                total = total + part
        return total.occupancy

    def total_of(queue: str, lo: int, hi: int) -> tuple[IntervalStats, bool]:
        total, seen = IntervalStats.empty(policies(queue)), False
        for s in range(lo, hi, BASE_INTERVAL):
            part = stats.get((queue, s))
            if part is not None:
                total, seen = total + part, True
        return total, seen

    rows: list[SlReportRow] = []
    for queue in names:
        if interval is not None:
            lo = first
            while lo < last:
                hi = min(last, lo - lo % interval + interval)
                part, seen = total_of(queue, lo, hi)
                if seen or include_empty:
                    rows.append(SlReportRow(queue, lo, hi, part, occupancy=occupancy(lo, hi)))
                lo = hi
        whole, _ = total_of(queue, first, last)
        rows.append(
            SlReportRow(queue, first, last, whole, is_total=True, occupancy=occupancy(first, last))
        )
    return rows


def csv_cell(value: object) -> str:
    """A report value as CSV text: empty for None, yes/no, ratios to 4 decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def render_csv(
    rows: Sequence[SlReportRow], policy: SlPolicy | SlPolicies = DEFAULT_POLICY, tz: tzinfo = UTC
) -> str:
    """The report as CSV text with a header (CSV_COLUMNS); undefined figures are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.values(policy, tz)
        writer.writerow([csv_cell(values[c]) for c in CSV_COLUMNS])
    return out.getvalue()


# ---------------------------------------------------------------------- abandoned calls
@dataclass(frozen=True, slots=True)
class AbandonedCall:
    """A call that ended without an agent, or that asked for a callback (and how that went).

    ``outcome``: ``abandoned`` (hung up while waiting), ``media-server-lost`` (the caller's
    Asterisk died while they waited: worth a call back), ``timed-out`` (the queue gave up),
    ``callback-answered`` / ``callback-failed`` / ``callback-pending`` (asked to be called
    back: reached, not reached, not yet). ``waited`` runs from entering the queue to the end
    (for callbacks: to the answer or failure, or to ``now`` while pending).
    """

    call_id: str
    queue: str
    entered_at: float
    ended_at: float | None
    waited: float
    outcome: str
    callback_requested_at: float | None = None
    agent_id: str | None = None

    def values(self, tz: tzinfo = UTC) -> dict[str, object]:
        """The call as ABANDONED_COLUMNS -> value (times ISO-8601 with their offset in ``tz``;
        ``abandoned_at`` is when the wait ended, None while a callback is pending)."""

        def iso(at: float | None) -> str | None:
            return None if at is None else datetime.fromtimestamp(at, tz).isoformat()

        return {
            "call_id": self.call_id,
            "queue": self.queue,
            "enqueued_at": iso(self.entered_at),
            "abandoned_at": iso(self.ended_at),
            "wait_seconds": round(self.waited, 3),
            "outcome": self.outcome,
            "callback_requested_at": iso(self.callback_requested_at),
            "agent_id": self.agent_id,
        }


ABANDONED_COLUMNS = (
    "call_id",
    "queue",
    "enqueued_at",
    "abandoned_at",
    "wait_seconds",
    "outcome",
    "callback_requested_at",
    "agent_id",
)


def render_abandoned_csv(calls: Sequence[AbandonedCall], tz: tzinfo = UTC) -> str:
    """The calls as CSV with a header (ABANDONED_COLUMNS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ABANDONED_COLUMNS)
    for call in calls:
        values = call.values(tz)
        writer.writerow([csv_cell(values[c]) for c in ABANDONED_COLUMNS])
    return out.getvalue()


def abandoned_calls(
    events: Iterable[object], start: float, end: float, now: float | None = None
) -> list[AbandonedCall]:
    """The abandoned, timed-out and callback calls that entered a queue in [start, end)
    (pure: feed it stored queue events in any order), in order of entry."""
    from line311.queue.events import (
        CallAbandoned,
        CallAnswered,
        CallbackRequested,
        CallEnqueued,
        CallTimedOut,
    )

    entered: dict[tuple[str, str], float] = {}
    callback: dict[tuple[str, str], float] = {}
    answered: dict[tuple[str, str], tuple[float, str]] = {}
    ended: dict[tuple[str, str], tuple[float, str]] = {}
    for e in events:
        if isinstance(e, CallEnqueued):
            entered[(e.queue, e.call_id)] = e.at
        elif isinstance(e, CallbackRequested):
            callback[(e.queue, e.call_id)] = e.at
        elif isinstance(e, CallAnswered):
            answered[(e.queue, e.call_id)] = (e.at, e.agent_id)
        elif isinstance(e, CallAbandoned):
            lost = e.media_server_lost  # the caller's Asterisk died: not a caller who gave up
            ended[(e.queue, e.call_id)] = (e.at, "media-server-lost" if lost else "abandoned")
        elif isinstance(e, CallTimedOut):
            ended[(e.queue, e.call_id)] = (e.at, "timed-out")
    out: list[AbandonedCall] = []
    for key, at in entered.items():
        if not start <= at < end:
            continue
        cb = callback.get(key)
        if cb is None and key not in ended:
            continue
        agent = None
        if cb is not None:
            if key in answered:
                stop, agent = answered[key]
                outcome = "callback-answered"
            elif key in ended:
                stop, outcome = ended[key][0], "callback-failed"
            else:
                stop, outcome = None, "callback-pending"
        else:
            stop, outcome = ended[key]
        waited = (stop if stop is not None else (now if now is not None else at)) - at
        out.append(AbandonedCall(key[1], key[0], at, stop, max(0.0, waited), outcome, cb, agent))
    out.sort(key=lambda c: (c.entered_at, c.call_id))
    return out
