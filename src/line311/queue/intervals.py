"""Interval statistics: fold queue events into per-(queue, 15-minute interval) service level.

(Just over 400 lines: one accumulator and its fold; the cells are in `queue.interval_cells`.)

Theory of operation
-------------------
Attribution: a call belongs to the interval in which it *entered* the queue (the "offered"
interval, as contact-center interval reports do), and every later fact about it (answer,
abandon, talk and wrap-up time) is added to that interval. Asterisk's own counters are lifetime
totals bumped when calls *end*; these are per interval and per queue, and sum to any range.
Intervals are aligned to the POSIX epoch in UTC; 15- and 30-minute boundaries are the same in
every whole- or half-hour time zone, New York included.

    events (any order across calls) ──► IntervalAccumulator ──► {(queue, start): IntervalStats}
                                               │                        │  + (merge)
                                               │                        ▼
                                               │               30 min, day, any date range
                                               ├──► live figures (waiting now, longest wait)
                                               └──► agent time per interval (occupancy)

Calls are keyed by ``(queue, call_id)``. Within one call, events may arrive out of order (an
answer before its enqueue, a completion before its answer): they are held until the missing
fact arrives. Duplicates (at-least-once delivery) are ignored. Contradictions (abandoned after
answered, a wait that ends before it starts) are counted in ``anomalies`` and logged, or raised
with ``strict=True``. Agent state changes must arrive in order per agent; an agent's time in a
state is split across the interval boundaries it spans.

Memory: one small record per call, finished or not, until `forget` drops it, and one cell per
(queue, 15-minute interval) for good. A long-running owner (the controller's queue hub; the
wallboard's `line311.dashboard.state.LiveState` drives its own) passes ``keep``: every time the
events' own time has moved on by `FORGET_EVERY` (an hour) since the last time, `feed` forgets
the calls that entered more than ``keep`` seconds before the event. No clock, no timer, and
one comparison per event; `forget` walks the calls in the order they were fed and stops at the
first one still kept, so its cost is that of the calls it drops. A report folding stored
events (any order, any range) keeps everything: no ``keep``.
The buckets themselves (per-interval cells, per-call records) are in
`line311.queue.interval_cells`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Final

from line311.queue.errors import InconsistentEventError, InvalidParameterError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallEvent,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.interval_cells import (
    _CAUSAL_RANK,
    _AgentCell,
    _AgentSegment,
    _Call,
    _CallKey,
    _Cell,
    _Status,
    add_agent_time,
)
from line311.queue.service_level import (
    BASE_INTERVAL,
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    LiveQueueFigures,
    SlPolicies,
    SlPolicy,
    merge_stats,
)

__all__ = ["FORGET_EVERY", "KEEP_CALLS", "IntervalAccumulator"]

logger = logging.getLogger(__name__)

KEEP_CALLS: Final = 2 * 86_400.0
"""Seconds a long-running owner remembers a call after it entered: two days, past anything a
wallboard of today shows, and past any duplicate or late event (they come within seconds,
or within a controller's restart)."""
FORGET_EVERY: Final = 3_600.0
"""How far the events' time moves on between two automatic `IntervalAccumulator.forget` s."""

_LENGTH_ERROR = "interval length must be a multiple of 900 s (15 minutes), got %s"


class IntervalAccumulator:
    """Folds queue events into per-(queue, 15-minute interval) statistics, live figures and
    per-interval agent time. Pure: time comes only from the events and from ``now`` arguments.

    ``policy`` is one `SlPolicy` for every queue or `SlPolicies` (each queue counted with its
    own threshold T; ``self.policy`` is then the default one).
    ``strict=True`` raises `InconsistentEventError` on contradictory events instead of logging
    and counting them in ``anomalies``. Calls are remembered (to ignore duplicates, to place
    late events) until `forget` drops them; with ``keep`` (seconds, e.g. `KEEP_CALLS`) `feed`
    forgets those that entered ``keep`` seconds before the events it is fed, once an hour of
    their time (see the module docstring). Without it, nothing is forgotten unless asked.
    """

    def __init__(
        self,
        policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
        *,
        strict: bool = False,
        keep: float | None = None,
    ) -> None:
        if keep is not None and not keep > 0:
            raise InvalidParameterError(f"keep must be a positive number of seconds, got {keep}")
        self.policies = SlPolicies.of(policy)
        self.policy = self.policies.default
        self.strict = strict
        self.keep = keep
        self._forgot_at = -math.inf
        self.anomalies = 0
        self.duplicates = 0
        self._cells: dict[tuple[str, int], _Cell] = {}
        self._calls: dict[_CallKey, _Call] = {}
        self._held: dict[_CallKey, list[CallEvent]] = {}
        self._waiting: dict[str, dict[str, float]] = {}  # queue -> call_id -> enqueued_at
        self._callbacks: dict[str, dict[str, float]] = {}
        self._agents: dict[str, _AgentSegment] = {}
        self._agent_cells: dict[int, _AgentCell] = {}
        self._dispatch = {
            CallEnqueued: self._on_enqueued,
            CallAnswered: self._on_answered,
            CallAbandoned: self._on_abandoned,
            CallTimedOut: self._on_timed_out,
            CallbackRequested: self._on_callback,
            CallCompleted: self._on_completed,
            AgentStateChanged: self._on_agent,
        }

    # ------------------------------------------------------------------ feeding
    def feed(self, event: QueueEvent) -> None:
        """Take one event into account (and, with ``keep``, forget once an hour)."""
        self._handle(event)
        if self.keep is not None and event.at - self._forgot_at > FORGET_EVERY:
            self._forgot_at = event.at
            self.forget(event.at - self.keep)

    def _handle(self, event: QueueEvent) -> None:
        handler = self._dispatch.get(type(event))
        if handler is None:
            raise InvalidParameterError(f"not a queue event: {event!r}")
        handler(event)  # type: ignore[operator]

    def feed_all(self, events: Iterable[QueueEvent]) -> None:
        """Take several events into account, in the order given."""
        for event in events:
            self.feed(event)

    @property
    def pending_out_of_order(self) -> int:
        """Events held because their call's enqueue (or answer) has not been seen yet."""
        return sum(len(held) for held in self._held.values())

    def forget(self, before: float) -> int:
        """Drop the calls that entered before ``before`` and the held events of unknown calls
        older than that; returns how many.

        Statistics are kept; only the memory used to recognise duplicates and to re-order
        late events goes, and a call still waiting (or talking) by then: it lost its end (a
        crashed leg), and would otherwise wait on the wallboard for good. Calls are walked in
        the order they were fed, up to the first that entered at or after ``before``: fed in
        time order (as a live owner is), that is every older one, at the cost of those
        dropped; one fed far behind its time goes when the calls fed before it have gone.
        """
        old: list[_CallKey] = []
        for key, call in self._calls.items():
            if call.enqueued_at >= before:
                break
            old.append(key)
        for key in old:
            if self._calls.pop(key).status is not _Status.FINISHED:
                self._stop_waiting(key)
        dropped = len(old)
        for key in [k for k, held in self._held.items() if all(e.at < before for e in held)]:
            dropped += len(self._held.pop(key))
        return dropped

    def _anomaly(self, message: str, *args: object) -> None:
        if self.strict:
            raise InconsistentEventError(message % args)
        self.anomalies += 1
        logger.warning(message, *args)

    def _hold(self, key: _CallKey, event: CallEvent) -> None:
        self._held.setdefault(key, []).append(event)

    def _release(self, key: _CallKey) -> None:
        held = self._held.pop(key, None)
        if held:
            for event in sorted(held, key=lambda e: (e.at, _CAUSAL_RANK[type(e)])):
                self._handle(event)

    def _cell(self, queue: str, at: float) -> _Cell:
        key = (queue, int(at // BASE_INTERVAL) * BASE_INTERVAL)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell()
        return cell

    def _wait(self, call: _Call, at: float, key: _CallKey) -> float:
        wait = at - call.enqueued_at
        if wait < 0:
            self._anomaly("call %s in %s: wait ends %.3f s before it starts", key[1], key[0], -wait)
            return 0.0
        return wait

    def _stop_waiting(self, key: _CallKey) -> None:
        queue, call_id = key
        self._waiting.get(queue, {}).pop(call_id, None)
        self._callbacks.get(queue, {}).pop(call_id, None)

    def _on_enqueued(self, event: CallEnqueued) -> None:
        key = (event.queue, event.call_id)
        if key in self._calls:
            self.duplicates += 1
            return
        cell = self._cell(event.queue, event.at)
        cell.offered += 1
        self._calls[key] = _Call(enqueued_at=event.at, cell=cell)
        self._waiting.setdefault(event.queue, {})[event.call_id] = event.at
        self._release(key)

    def _wait_ended(
        self, event: CallAnswered | CallAbandoned | CallTimedOut
    ) -> tuple[tuple[str, str], _Call, float] | None:
        """The call whose wait ``event`` ends and that wait (longest wait updated), or None
        when the event is held (enqueue not seen yet) or a duplicate / conflict."""
        key = (event.queue, event.call_id)
        call = self._calls.get(key)
        if call is None:
            self._hold(key, event)
            return None
        if call.status is _Status.ANSWERED or call.status is _Status.FINISHED:
            self._duplicate_or_conflict(key, call, event)
            return None
        wait = self._wait(call, event.at, key)
        if wait > call.cell.longest_wait:
            call.cell.longest_wait = wait
        return key, call, wait

    def _on_answered(self, event: CallAnswered) -> None:
        ended = self._wait_ended(event)
        if ended is None:
            return
        key, call, wait = ended
        cell = call.cell
        cell.answered += 1
        if wait <= self.policies(key[0]).threshold:
            cell.answered_within += 1
        cell.answer_wait_total += wait
        call.status = _Status.ANSWERED
        self._stop_waiting(key)
        self._release(key)

    def _on_abandoned(self, event: CallAbandoned) -> None:
        ended = self._wait_ended(event)
        if ended is None:
            return
        key, call, wait = ended
        cell = call.cell
        cell.abandoned += 1
        policy = self.policies(key[0])
        if wait <= policy.threshold:
            cell.abandoned_within += 1
        if wait <= policy.short_abandon_threshold:
            cell.short_abandons += 1
        cell.abandon_wait_total += wait
        call.status = _Status.FINISHED
        self._stop_waiting(key)

    def _on_timed_out(self, event: CallTimedOut) -> None:
        ended = self._wait_ended(event)
        if ended is None:
            return
        key, call, _wait = ended
        call.cell.timed_out += 1
        call.status = _Status.FINISHED
        self._stop_waiting(key)

    def _on_callback(self, event: CallbackRequested) -> None:
        key = (event.queue, event.call_id)
        call = self._calls.get(key)
        if call is None:
            self._hold(key, event)
            return
        if call.callback:
            self.duplicates += 1
            return
        call.callback = True
        call.cell.callbacks_requested += 1
        if call.status is _Status.WAITING:
            call.status = _Status.CALLBACK
            self._waiting.get(event.queue, {}).pop(event.call_id, None)
            self._callbacks.setdefault(event.queue, {})[event.call_id] = call.enqueued_at
        # else: the request arrived after the call's outcome (late delivery); it is counted,
        # and the outcome already measured the wait from the original enqueue.

    def _on_completed(self, event: CallCompleted) -> None:
        key = (event.queue, event.call_id)
        call = self._calls.get(key)
        if call is None or call.status is _Status.WAITING or call.status is _Status.CALLBACK:
            self._hold(key, event)  # its answer has not been seen yet
            return
        if call.status is _Status.FINISHED:
            self._duplicate_or_conflict(key, call, event)
            return
        for name, value in (
            ("talk", event.talk_seconds),
            ("hold", event.hold_seconds),
            ("wrap-up", event.wrapup_seconds),
        ):
            if value < 0:
                self._anomaly("call %s in %s: negative %s time %s", key[1], key[0], name, value)
                return
        cell = call.cell
        cell.handled += 1
        cell.talk_total += event.talk_seconds
        cell.hold_total += event.hold_seconds
        cell.wrapup_total += event.wrapup_seconds
        call.status = _Status.FINISHED

    def _duplicate_or_conflict(self, key: _CallKey, call: _Call, event: CallEvent) -> None:
        # An event already reflected in the call's status is a harmless duplicate (at-least-once
        # delivery); anything else contradicts the call's history.
        duplicate = (
            isinstance(event, CallAnswered) and call.status is _Status.ANSWERED
        ) or call.status is _Status.FINISHED
        if duplicate:
            self.duplicates += 1
        else:
            self._anomaly(
                "call %s in %s: %s after the call was %s",
                key[1],
                key[0],
                type(event).__name__,
                call.status.value,
            )

    def _on_agent(self, event: AgentStateChanged) -> None:
        previous = self._agents.get(event.agent_id)
        if previous is not None:
            if event.at < previous.since:
                self._anomaly(
                    "agent %s: state %s at %.3f is older than the current one (%.3f); ignored",
                    event.agent_id,
                    event.state.value,
                    event.at,
                    previous.since,
                )
                return
            add_agent_time(self._agent_cells, previous.state, previous.since, event.at)
        self._agents[event.agent_id] = _AgentSegment(state=event.state, since=event.at)

    # ------------------------------------------------------------------ reading
    def queues(self) -> list[str]:
        """Every queue seen so far, sorted."""
        return sorted({q for q, _ in self._cells} | set(self._waiting) | set(self._callbacks))

    def intervals(
        self, length: int = BASE_INTERVAL, *, queue: str | None = None, since: float | None = None
    ) -> dict[tuple[str, int], IntervalStats]:
        """Statistics per (queue, interval start) for ``length``-second intervals.

        ``length`` must be a multiple of 900 (15 minutes); 1800 gives half-hours. Longer
        intervals are sums of the 15-minute ones. ``since``: only the intervals starting at
        or after it, the same as without it (the wallboard's today: the days before are
        kept, and freezing them all on every snapshot cost more the longer it ran).
        """
        if length <= 0 or length % BASE_INTERVAL:
            raise InvalidParameterError(
                f"interval length must be a multiple of 900 s, got {length}"
            )
        out: dict[tuple[str, int], IntervalStats] = {}
        cells: Iterable[tuple[tuple[str, int], _Cell]] = self._cells.items()
        if since is not None:
            cells = [item for item in cells if item[0][1] >= since]
        for (q, start), cell in sorted(cells):
            if queue is not None and q != queue:
                continue
            key = (q, start // length * length)
            if since is not None and key[1] < since:
                continue  # its first 15 minutes are before ``since``
            frozen = cell.freeze(self.policies(q))
            previous = out.get(key)
            out[key] = frozen if previous is None else previous + frozen
        return out

    def stats(self, queue: str, start: float, end: float) -> IntervalStats:
        """Statistics of ``queue`` for calls offered in 15-minute intervals starting in
        [``start``, ``end``) — for whole intervals, pass interval boundaries."""
        policy = self.policies(queue)
        return merge_stats(
            (
                cell.freeze(policy)
                for (q, s), cell in self._cells.items()
                if q == queue and start <= s < end
            ),
            policy,
        )

    def live(self, queue: str, now: float) -> LiveQueueFigures:
        """Calls of ``queue`` waiting at ``now``, the longest current wait, and which have
        waited longer than the queue's threshold T (on hold or for a callback: either way the
        call will count as a miss, in the interval it entered)."""
        waiting = self._waiting.get(queue, {})
        callbacks = self._callbacks.get(queue, {})
        starts = [*waiting.values(), *callbacks.values()]
        oldest = min(starts) if starts else None
        threshold = self.policies(queue).threshold
        past = tuple(sorted(at for at in starts if now - at > threshold))
        return LiveQueueFigures(
            queue=queue,
            now=now,
            waiting=len(waiting),
            callbacks_pending=len(callbacks),
            longest_wait=max(0.0, now - oldest) if oldest is not None else 0.0,
            oldest_enqueued_at=oldest,
            waiting_past_threshold=len(past),
            past_threshold_entered=past,
        )

    def agents_by_state(self) -> dict[AgentActivity, int]:
        """How many agents are in each activity now (every activity listed, zeros included)."""
        counts = dict.fromkeys(AgentActivity, 0)
        for segment in self._agents.values():
            counts[segment.state] += 1
        return counts

    def agent_time(
        self, length: int = BASE_INTERVAL, *, now: float | None = None
    ) -> dict[int, AgentTimeStats]:
        """Agent time per interval start (all agents). With ``now``, the current state of each
        agent counts up to ``now``; without it, only finished state segments count."""
        if length <= 0 or length % BASE_INTERVAL:
            raise InvalidParameterError(
                f"interval length must be a multiple of 900 s, got {length}"
            )
        cells = self._agent_cells
        if now is not None:
            cells = {k: _AgentCell(dict(v.seconds)) for k, v in cells.items()}
            for segment in self._agents.values():
                if now > segment.since:
                    add_agent_time(cells, segment.state, segment.since, now)
        out: dict[int, AgentTimeStats] = {}
        for start, cell in sorted(cells.items()):
            key = start // length * length
            stats = AgentTimeStats(**cell.seconds)
            previous = out.get(key)
            out[key] = stats if previous is None else previous + stats
        return out
