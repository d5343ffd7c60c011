"""The live state of the call center, as the wallboard shows it (pure: no I/O, no clock).

Theory of operation
-------------------
`LiveState` folds facts into a model and renders a JSON-able snapshot at a ``now`` passed in::

    queue events (line311.queue.events) ──┐
    IVR facts (CallEnteredIvr, ...)      ──┼──► LiveState.apply(fact) ──► snapshot(now) -> dict
    alerts, goals, agent names           ──┘          │
                                                      └─► measurements (waits, handle times)
                                                          for the Prometheus histograms

Service-level math is not redone here: queue events go to an
`line311.queue.intervals.IntervalAccumulator`, and SL, ASA, abandons and the per-interval chart
come from its `IntervalStats`. What this module adds is what a wallboard needs on top: per-queue
goals (changeable live) and a green / amber / red status, per-CCR figures (calls handled, AHT,
time in state, pause reason), IVR figures and active alerts.

"Today" is the calendar day of ``now`` in the time zone given (New York for NYC 311), and
"the current interval" is the ``interval_length``-second interval holding ``now``. A queue's
status is judged on the current interval's SL, or on today's when the interval has no call
counted yet; with no calls at all it is ``"none"`` (nothing to judge).

Each queue is measured with its own threshold T and goal (`SlPolicies`: queues.yaml's
``sl_threshold`` / ``sl_goal``, else the center's). Callers still waiting count too: the
*projected* SL counts every caller now waiting longer than T as the miss it will be (answered
late, or abandoned or timed out after T), so a queue whose finished calls all made it while
callers pile up past T is "at risk", not "on goal" (`line311.queue.service_level.sl_state`).
Like every call, a waiting one belongs to the interval in which it entered the queue: the
interval's projection counts the callers who entered in the current interval, today's those
who entered today (a caller from 09:14 still waiting at 09:16 is in today's, not 09:15's).
The center-wide chart adds each queue's figure counted by its own T
(`combined_service_level`).

The facts and measurements are defined in `line311.dashboard.facts`, the colours and rows of
the snapshot in `line311.dashboard.render`; both are re-exported here.

Cost: `apply` is O(1). `snapshot` is O(queues × intervals today + agents), independent of the
number of calls, so thousands of calls cost nothing extra per snapshot.

Memory: what is kept per call (the accumulator's call, the wait and answering CCR of a call in
progress, a call in the IVR, the events of a call that may yet be listed) goes with `forget`,
two days (`KEEP_CALLS`) after the call; `apply` calls it whenever the time of the call facts it
is fed has moved on by an hour since the last time (`FORGET_EVERY`): no clock, no timer, one
comparison per fact. The abandoned list keeps its newest `MAX_LISTED_CALLS` calls whatever
their age (it is what the report without a database lists). The statistics per interval stay.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, tzinfo
from itertools import chain, islice
from typing import Any

from line311.dashboard.facts import (
    AgentNamed,
    AlertRaised,
    AlertWithdrawn,
    CallEnteredIvr,
    CallLeftIvr,
    Fact,
    HandleMeasured,
    Measurement,
    QueueConfigured,
    QueueGoalChanged,
    WaitMeasured,
)
from line311.dashboard.render import (
    _Ccr,
    _round,
    agent_counts,
    agent_rows,
    queue_figures,
    sl_status,
    state_status,
)
from line311.queue.days import local_day_start
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS, IntervalAccumulator
from line311.queue.report import AbandonedCall, abandoned_calls
from line311.queue.service_level import (
    BASE_INTERVAL,
    DEFAULT_POLICY,
    IntervalStats,
    SlPolicies,
    SlPolicy,
    SlState,
    combined_service_level,
    merge_stats,
)

__all__ = [
    "AgentNamed",
    "AlertRaised",
    "AlertWithdrawn",
    "CallEnteredIvr",
    "CallLeftIvr",
    "Fact",
    "HandleMeasured",
    "LiveState",
    "Measurement",
    "QueueConfigured",
    "QueueGoalChanged",
    "WaitMeasured",
    "local_day_start",
    "sl_status",
    "state_status",
]

logger = logging.getLogger(__name__)

MAX_LISTED_CALLS = 10_000
"""Calls of the abandoned list kept in memory (the newest; a database keeps them all)."""
MAX_OPEN_CALLS = 50_000
"""Calls kept until their wait ends (a bound against events that never come)."""


class LiveState:
    """The wallboard's model. See the module docstring.

    ``policy`` gives the center's SL formula and each queue's threshold and default goal (one
    `SlPolicy` for all, or `SlPolicies`); ``goals`` overrides the goal per queue.
    ``amber_margin`` is how far below the goal (in SL points, 0.05 = 5 percentage points) a
    queue is amber rather than red. ``tz`` decides where "today" starts.
    """

    def __init__(
        self,
        policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
        *,
        goals: Mapping[str, float] | None = None,
        amber_margin: float = 0.05,
        tz: tzinfo = UTC,
        interval_length: int = BASE_INTERVAL,
    ) -> None:
        if interval_length <= 0 or interval_length % BASE_INTERVAL:
            raise ValueError(f"interval length must be a multiple of 900 s, got {interval_length}")
        if not 0.0 <= amber_margin < 1.0:
            raise ValueError(f"amber margin must be in [0, 1), got {amber_margin}")
        self.policies = SlPolicies.of(policy)
        self.policy = self.policies.default
        self.amber_margin = amber_margin
        self.tz = tz
        self.interval_length = interval_length
        self.accumulator = IntervalAccumulator(self.policies)
        self._goals: dict[str, float] = {}
        for queue, goal in (goals or {}).items():
            self._set_goal(queue, goal)
        self._enqueued: dict[tuple[str, str], float] = {}
        self._answered_by: dict[tuple[str, str], tuple[str, float]] = {}  # -> (CCR, answered at)
        self._ccrs: dict[str, _Ccr] = {}
        self._in_ivr: dict[str, float] = {}
        self._ivr_days: dict[float, list[int]] = {}  # day start -> [left, resolved]
        self._alerts: dict[str, AlertRaised] = {}
        # the queue events of each call the abandoned list holds, for the abandoned report
        # without a database (`abandoned_calls`), and of each call that may yet be listed
        self._listed: dict[tuple[str, str], list[QueueEvent]] = {}
        self._open: dict[tuple[str, str], list[QueueEvent]] = {}
        self._forgot_at = -math.inf
        self.version = 0

    # ------------------------------------------------------------------ feeding
    def apply(self, fact: Fact) -> list[Measurement]:
        """Take one fact into account; returns the measurements it completes (for metrics)."""
        self.version += 1
        if isinstance(fact, AgentStateChanged):
            self._tick(fact.at)
            self.accumulator.feed(fact)
            self._on_agent(fact)
            return []
        if isinstance(
            fact,
            CallEnqueued
            | CallAnswered
            | CallAbandoned
            | CallTimedOut
            | CallbackRequested
            | CallCompleted,
        ):
            self._tick(fact.at)
            self.accumulator.feed(fact)
            self._keep_for_report(fact)
            return self._on_call(fact)
        if isinstance(fact, CallEnteredIvr):
            self._tick(fact.at)
            self._in_ivr[fact.call_id] = fact.at
        elif isinstance(fact, CallLeftIvr):
            self._tick(fact.at)
            self._in_ivr.pop(fact.call_id, None)
            counts = self._ivr_days.setdefault(self._day_start(fact.at), [0, 0])
            counts[0] += 1
            counts[1] += fact.resolved
        elif isinstance(fact, AlertRaised):
            self._alerts[fact.alert_id] = fact
        elif isinstance(fact, AlertWithdrawn):
            self._alerts.pop(fact.alert_id, None)
        elif isinstance(fact, QueueConfigured | QueueGoalChanged):
            self._set_goal(fact.queue, fact.goal)
        elif isinstance(fact, AgentNamed):
            self._ccr(fact.agent_id).name = fact.name
        else:
            raise TypeError(f"not a dashboard fact: {fact!r}")
        return []

    def apply_all(self, facts: Iterable[Fact]) -> list[Measurement]:
        """Apply several facts in order."""
        out: list[Measurement] = []
        for fact in facts:
            out.extend(self.apply(fact))
        return out

    def _tick(self, at: float) -> None:
        """The time of a call's or a CCR's fact (stamped by the controller as it happened, fed
        in that order; an alert's or a goal change's does not count): forget once an hour."""
        if at - self._forgot_at > FORGET_EVERY:
            self.forget(at)

    def _set_goal(self, queue: str, goal: float) -> None:
        if not 0.0 < goal <= 1.0:
            raise ValueError(f"SL goal must be in (0, 1], got {goal}")
        self._goals[queue] = goal

    def _ccr(self, agent_id: str) -> _Ccr:
        ccr = self._ccrs.get(agent_id)
        if ccr is None:
            ccr = self._ccrs[agent_id] = _Ccr(agent_id)
        return ccr

    def _on_agent(self, event: AgentStateChanged) -> None:
        ccr = self._ccr(event.agent_id)
        if ccr.since is not None and event.at < ccr.since:
            return  # out of order: the accumulator counted it as an anomaly
        ccr.state = event.state
        ccr.since = event.at
        ccr.reason = event.reason if event.state is AgentActivity.PAUSED else ""

    def _on_call(self, event: QueueEvent) -> list[Measurement]:
        if isinstance(event, AgentStateChanged):  # pragma: no cover - dispatched earlier
            return []
        key = (event.queue, event.call_id)
        if isinstance(event, CallEnqueued):
            self._enqueued.setdefault(key, event.at)
            return []
        if isinstance(event, CallbackRequested):
            return []
        if isinstance(event, CallCompleted):
            answered = self._answered_by.pop(key, None)
            seconds = event.talk_seconds + event.hold_seconds + event.wrapup_seconds
            if seconds < 0:
                return []
            if answered is not None:
                ccr = self._ccr(answered[0])
                ccr.calls_handled += 1
                ccr.handle_total += seconds
            return [HandleMeasured(event.queue, seconds)]
        enqueued = self._enqueued.pop(key, None)
        if isinstance(event, CallAnswered):
            self._answered_by[key] = (event.agent_id, event.at)
        if enqueued is None:
            return []
        wait = max(0.0, event.at - enqueued)
        if isinstance(event, CallAnswered):
            return [WaitMeasured(event.queue, wait, "answered")]
        if isinstance(event, CallAbandoned):
            lost = event.media_server_lost
            return [WaitMeasured(event.queue, wait, "media_server_lost" if lost else "abandoned")]
        return [WaitMeasured(event.queue, wait, "timed_out")]

    def _keep_for_report(self, event: QueueEvent) -> None:
        """Keep the events the abandoned report reads of every call it lists: a call is
        listed once it asks for a callback, abandons or times out, and dropped (never listed)
        when answered without a callback."""
        if isinstance(event, CallCompleted | AgentStateChanged):
            return
        key = (event.queue, event.call_id)
        listed = self._listed.get(key)
        if listed is not None:  # a callback's outcome, a duplicate, or a late enqueue
            listed.append(event)
            return
        events = self._open.pop(key, [])
        events.append(event)
        if isinstance(event, CallbackRequested | CallAbandoned | CallTimedOut):
            self._listed[key] = events
            _trim(self._listed, MAX_LISTED_CALLS)
        elif not isinstance(event, CallAnswered):
            self._open[key] = events
            _trim(self._open, MAX_OPEN_CALLS)

    # ------------------------------------------------------------------ reading
    def _day_start(self, at: float) -> float:
        return local_day_start(at, self.tz)

    def goal(self, queue: str) -> float:
        """The SL goal of ``queue`` (set live, else the queue's own, else the center's)."""
        return self._goals.get(queue, self.policies(queue).goal)

    def queue_names(self) -> list[str]:
        """Configured queues and every queue seen in events, sorted."""
        return sorted(set(self._goals) | set(self.accumulator.queues()))

    def agent_ids(self) -> list[str]:
        """Every CCR seen, sorted."""
        return sorted(self._ccrs)

    def agent_state(self, agent_id: str) -> AgentActivity | None:
        """The CCR's current activity, or None when unknown."""
        ccr = self._ccrs.get(agent_id)
        return None if ccr is None else ccr.state

    def active_alerts(self) -> list[AlertRaised]:
        """The active alerts, oldest first (what another state takes over)."""
        return sorted(self._alerts.values(), key=lambda a: (a.at, a.alert_id))

    def alert_ids(self) -> list[str]:
        """Ids of the active alerts."""
        return sorted(self._alerts)

    def abandoned_calls(
        self, start: float, end: float, now: float | None = None
    ) -> list[AbandonedCall]:
        """The abandoned report of the calls kept in memory (the newest `MAX_LISTED_CALLS`)
        that entered a queue in [start, end): abandoned, lost with their Asterisk, timed out,
        and every callback with its outcome, as `line311.queue.report.abandoned_calls` lists
        them from stored events (``now`` runs a pending callback's wait)."""
        return abandoned_calls(chain.from_iterable(self._listed.values()), start, end, now=now)

    def policy_for(self, queue: str) -> SlPolicy:
        """``queue``'s policy (its own threshold) with its current goal."""
        return replace(self.policies(queue), goal=self.goal(queue))

    def _figures(self, stats: IntervalStats, goal: float, past_threshold: int) -> dict[str, Any]:
        return queue_figures(stats, goal, past_threshold, self.policy.formula, self.amber_margin)

    def snapshot(self, now: float) -> dict[str, Any]:
        """Everything the wallboard shows, at ``now``, as plain JSON-able values."""
        day_start = self._day_start(now)
        length = self.interval_length
        current = int(now // length) * length
        by_interval = self.accumulator.intervals(length, since=day_start)
        queues: list[dict[str, Any]] = []
        day_totals: dict[int, list[IntervalStats]] = {}
        for name in self.queue_names():
            goal = self.goal(name)
            own = self.policies(name)
            cells = {s: st for (q, s), st in by_interval.items() if q == name and s >= day_start}
            for start, st in cells.items():
                day_totals.setdefault(start, []).append(st)
            interval = cells.get(current, IntervalStats.empty(own))
            today = merge_stats(cells.values(), own)
            live = self.accumulator.live(name, now)
            # a caller now past T will count as a miss in the interval they entered, so each
            # window's projection counts the ones who entered in it, as its cells count calls:
            # one who entered at 09:14 is a miss of today, not of the 09:15 interval. The
            # supervisor still sees them all (waiting_past_threshold, longest_wait).
            entered = live.waiting_past_threshold_entered
            interval_fig = self._figures(interval, goal, entered(current, current + length, length))
            today_fig = self._figures(today, goal, entered(day_start, math.inf, length))
            judged = interval_fig if interval_fig["state"] != SlState.NONE else today_fig
            queues.append(
                {
                    "name": name,
                    "goal": goal,
                    "threshold": own.threshold,
                    "waiting": live.waiting,
                    "callbacks_pending": live.callbacks_pending,
                    "longest_wait": round(live.longest_wait, 1),
                    "waiting_past_threshold": live.waiting_past_threshold,
                    "status": judged["status"],
                    "state": judged["state"],
                    "interval": interval_fig,
                    "today": today_fig,
                }
            )
        chart = []
        start = int(day_start // length) * length
        formula = self.policy.formula
        while start <= current:
            parts = day_totals.get(start, [])
            chart.append(
                {
                    "start": start,
                    "offered": sum(p.offered for p in parts),
                    "sl": _round(combined_service_level(parts, formula)),
                }
            )
            start += length
        ivr_left, ivr_resolved = self._ivr_days.get(day_start, [0, 0])
        for old in [d for d in self._ivr_days if d < day_start - 2 * 86400]:
            del self._ivr_days[old]
        return {
            "version": self.version,
            "now": now,
            "day_start": day_start,
            "interval_length": length,
            "interval_start": current,
            "policy": {
                "threshold": self.policy.threshold,
                "formula": self.policy.formula.value,
                "short_abandon_threshold": self.policy.short_abandon_threshold,
                "default_goal": self.policy.goal,
                "amber_margin": self.amber_margin,
            },
            "queues": queues,
            "agents": self._agents(now),
            "agent_counts": self._agent_counts(),
            "ivr": {
                "in_ivr": len(self._in_ivr),
                "left_today": ivr_left,
                "resolved_today": ivr_resolved,
                "resolved_share": _round(ivr_resolved / ivr_left) if ivr_left else None,
            },
            "alerts": [
                {
                    "id": a.alert_id,
                    "title": a.title,
                    "message": a.message,
                    "severity": a.severity,
                    "since": a.at,
                }
                for a in self.active_alerts()
            ],
            "chart": chart,
        }

    def _agents(self, now: float) -> list[dict[str, Any]]:
        return agent_rows(self._ccrs, now)

    def _agent_counts(self) -> dict[str, int]:
        return agent_counts(self._ccrs)

    def forget(self, now: float) -> None:
        """Drop per-call memory older than two days (`KEEP_CALLS`; statistics are kept).

        `apply` calls it once an hour of the facts' time; what it scans besides the
        accumulator (calls waiting, talking or in the IVR now) is small, whatever the day's
        number of calls: in the normal course each of these ends with its call."""
        self._forgot_at = now
        horizon = now - KEEP_CALLS
        self.accumulator.forget(horizon)
        for key in [k for k, at in self._enqueued.items() if at < horizon]:
            del self._enqueued[key]
        for key in [k for k, (_, at) in self._answered_by.items() if at < horizon]:
            del self._answered_by[key]
        for key in [k for k, events in self._open.items() if events[-1].at < horizon]:
            del self._open[key]
        for call_id in [c for c, at in self._in_ivr.items() if at < horizon]:
            del self._in_ivr[call_id]


def _trim(calls: dict[tuple[str, str], list[QueueEvent]], most: int) -> None:
    """Drop the oldest tenth of ``calls`` once there are more than ``most``."""
    if len(calls) > most:
        for key in list(islice(calls, max(1, most // 10))):
            del calls[key]
