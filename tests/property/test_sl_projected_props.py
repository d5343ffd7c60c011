"""Projected SL (callers now past T counted as misses) over random event logs, with each
queue counted by its own threshold: never above the live SL, equal to it when nobody waits
past T, and equal to a brute-force count — per interval too, where a caller still waiting
counts only in the interval they entered the queue in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.service_level import (
    SlFormula,
    SlPolicies,
    SlPolicy,
    SlState,
    projected_service_level,
    sl_state,
)

BASE = 1_700_000_100
DEFAULT = SlPolicy(threshold=30, short_abandon_threshold=5)
POLICIES = SlPolicies.build(DEFAULT, {"housing": (20.0, 0.9), "noise": (None, None)})
THRESHOLD = {"housing": 20.0, "noise": 30.0}
OUTCOMES = ("answered", "abandoned", "timed_out", "waiting", "callback_waiting")
WAITS = st.one_of(st.sampled_from([0, 5, 19, 20, 21, 29, 30, 31]), st.integers(0, 120))

Call = tuple[str, str, int, str, int]  # call_id, queue, enqueued, outcome, wait
EDGES = (0, 899, 900, 901, 1799, 1800)  # around the interval boundaries (BASE is one)


@st.composite
def logs(draw: st.DrawFn, span: int = 600) -> tuple[list[Call], int]:
    n = draw(st.integers(0, 30))
    calls: list[Call] = [
        (
            f"c{i}",
            draw(st.sampled_from(["housing", "noise"])),
            BASE + draw(st.one_of(st.integers(0, span), st.sampled_from(EDGES))),
            draw(st.sampled_from(OUTCOMES)),
            draw(WAITS),
        )
        for i in range(n)
    ]
    last = max((t + w for _, _, t, _, w in calls), default=BASE)
    return calls, last + draw(st.sampled_from([0, 1, 10, 25, 40, 200]))


def events_of(call: Call) -> list[QueueEvent]:
    cid, q, t0, outcome, wait = call
    out: list[QueueEvent] = [CallEnqueued(cid, q, float(t0))]
    end = float(t0 + wait)
    if outcome == "answered":
        out.append(CallAnswered(cid, q, end, agent_id="ccr"))
    elif outcome == "abandoned":
        out.append(CallAbandoned(cid, q, end))
    elif outcome == "timed_out":
        out.append(CallTimedOut(cid, q, end))
    elif outcome == "callback_waiting":
        out.append(CallbackRequested(cid, q, float(t0 + min(wait, 3))))
    return out


def brute_projected(
    calls: list[Call],
    queue: str,
    now: int,
    formula: SlFormula,
    entered: tuple[float, float] = (float("-inf"), float("inf")),
) -> float | None:
    """Straight from the definitions: finished calls by formula, waiting past T as misses;
    only calls that ``entered`` the queue in [start, end) count."""
    t = THRESHOLD[queue]
    num = den = 0
    for _, q, t0, outcome, wait in calls:
        if q != queue or not entered[0] <= t0 < entered[1]:
            continue
        if outcome in ("waiting", "callback_waiting"):
            den += now - t0 > t
            continue
        within = wait <= t
        if outcome == "answered":
            num, den = num + within, den + 1
        elif outcome == "timed_out":
            den += formula is not SlFormula.ANSWERED_ONLY
        else:  # abandoned
            if formula is SlFormula.ASTERISK_SL2:
                num, den = num + within, den + 1
            elif formula is SlFormula.ALL_CALLS:
                den += 1
            elif formula is SlFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD:
                den += not within
            elif formula is SlFormula.EXCLUDE_SHORT_ABANDONS:
                den += wait > 5
    return num / den if den else None


@settings(max_examples=300, deadline=None)
@given(logs(), st.sampled_from(list(SlFormula)))
def test_projected_sl_never_above_live_and_matches_brute_force(
    log: tuple[list[Call], int], formula: SlFormula
) -> None:
    calls, now = log
    acc = IntervalAccumulator(POLICIES)
    for call in calls:
        acc.feed_all(events_of(call))
    for queue in ("housing", "noise"):
        stats = acc.stats(queue, BASE - 900, BASE + 3600)
        assert stats.threshold == THRESHOLD[queue]
        live = stats.service_level(formula)
        past = acc.live(queue, float(now)).waiting_past_threshold
        projected = projected_service_level(stats, past, formula)
        assert projected == brute_projected(calls, queue, now, formula)
        if past == 0:
            assert projected == live
        elif live is not None:
            assert projected is not None
            assert projected <= live
        else:
            assert projected == 0.0
        goal = POLICIES(queue).goal
        state = sl_state(live, projected, goal)
        if projected is not None and projected >= goal:
            assert state is SlState.ON_GOAL
        if state is SlState.AT_RISK:
            assert past > 0
            assert live is None or live >= goal


@settings(max_examples=300, deadline=None)
@given(logs(span=2700), st.sampled_from(list(SlFormula)), st.sampled_from([900, 1800]))
def test_each_interval_projects_only_the_callers_who_entered_in_it(
    log: tuple[list[Call], int], formula: SlFormula, length: int
) -> None:
    calls, now = log
    acc = IntervalAccumulator(POLICIES)
    for call in calls:
        acc.feed_all(events_of(call))
    for queue in ("housing", "noise"):
        live = acc.live(queue, float(now))
        per_interval = 0
        for (q, start), stats in acc.intervals(length, queue=queue).items():
            assert q == queue
            past = live.waiting_past_threshold_entered(start, start + length, length)
            per_interval += past
            projected = projected_service_level(stats, past, formula)
            window = (start, start + length)
            assert projected == brute_projected(calls, queue, now, formula, window)
        # every caller past T is a miss of exactly one interval: the one they entered in
        assert per_interval == live.waiting_past_threshold
