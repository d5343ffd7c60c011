"""Service level over random event logs: equal to a brute-force oracle, always in [0, 1],
independent of the order events arrive in, and mergeable (parts add up to the whole)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.queue_log import (
    QueueLogTranslator,
    events_from_records,
    format_line,
    parse_lines,
)
from line311.queue.service_level import IntervalStats, SlFormula, SlPolicy

BASE = 1_700_000_100  # a 15-minute boundary
POLICY = SlPolicy(threshold=30, short_abandon_threshold=5)
OUTCOMES = (
    "answered",
    "abandoned",
    "timed_out",
    "callback_answered",
    "callback_abandoned",
    "waiting",
)


@dataclass(frozen=True)
class Call:
    call_id: str
    queue: str
    enqueued: int
    outcome: str
    wait: int
    talk: int
    wrapup: int


# Waits cluster around the thresholds, where off-by-one mistakes live.
WAITS = st.one_of(st.sampled_from([0, 4, 5, 6, 29, 30, 31]), st.integers(0, 400))


@st.composite
def call_logs(draw: st.DrawFn) -> list[Call]:
    n = draw(st.integers(0, 40))
    return [
        Call(
            call_id=f"c{i}",
            queue=draw(st.sampled_from(["housing", "noise"])),
            enqueued=BASE + draw(st.integers(0, 3 * 3600)),
            outcome=draw(st.sampled_from(OUTCOMES)),
            wait=draw(WAITS),
            talk=draw(st.integers(0, 900)),
            wrapup=draw(st.integers(0, 120)),
        )
        for i in range(n)
    ]


def events_of(call: Call) -> list[QueueEvent]:
    q, cid, t0 = call.queue, call.call_id, float(call.enqueued)
    end = t0 + call.wait
    out: list[QueueEvent] = [CallEnqueued(cid, q, t0)]
    if call.outcome.startswith("callback"):
        out.append(CallbackRequested(cid, q, t0 + min(call.wait, 3)))
    if call.outcome.endswith("answered"):
        out.append(CallAnswered(cid, q, end, agent_id="ccr"))
        out.append(CallCompleted(cid, q, end + call.talk, call.talk, 0.0, call.wrapup))
    elif call.outcome.endswith("abandoned"):
        out.append(CallAbandoned(cid, q, end))
    elif call.outcome == "timed_out":
        out.append(CallTimedOut(cid, q, end))
    return out


def oracle(calls: list[Call], queue: str, start: float, end: float) -> dict[str, float]:
    """Counts straight from the definitions, with no shared code."""
    mine = [c for c in calls if c.queue == queue and start <= c.enqueued < end]
    answered = [c for c in mine if c.outcome.endswith("answered")]
    abandoned = [c for c in mine if c.outcome.endswith("abandoned")]
    return {
        "offered": len(mine),
        "answered": len(answered),
        "answered_within": sum(c.wait <= 30 for c in answered),
        "abandoned": len(abandoned),
        "abandoned_within": sum(c.wait <= 30 for c in abandoned),
        "short_abandons": sum(c.wait <= 5 for c in abandoned),
        "timed_out": sum(c.outcome == "timed_out" for c in mine),
        "handled": len(answered),
        "answer_wait_total": sum(c.wait for c in answered),
        "talk_total": sum(c.talk for c in answered),
        "longest_wait": max((c.wait for c in mine if c.outcome != "waiting"), default=0),
    }


def oracle_sl(o: dict[str, float], formula: SlFormula) -> float | None:
    a_t, ans, ab, to = o["answered_within"], o["answered"], o["abandoned"], o["timed_out"]
    num, den = {
        SlFormula.ASTERISK_SL2: (a_t + o["abandoned_within"], ans + ab + to),
        SlFormula.ANSWERED_ONLY: (a_t, ans),
        SlFormula.ALL_CALLS: (a_t, ans + ab + to),
        SlFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD: (a_t, ans + ab - o["abandoned_within"] + to),
        SlFormula.EXCLUDE_SHORT_ABANDONS: (a_t, ans + ab - o["short_abandons"] + to),
    }[formula]
    return num / den if den else None


def assert_same(a: IntervalStats, b: IntervalStats) -> None:
    for f in fields(IntervalStats):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (f.name, x, y)


@settings(max_examples=200, deadline=None)
@given(calls=call_logs(), data=st.data())
def test_sl_and_asa_equal_a_brute_force_oracle_whatever_the_arrival_order(
    calls: list[Call], data: st.DataObject
) -> None:
    events = [e for c in calls for e in events_of(c)]
    shuffled = data.draw(st.permutations(events))
    acc = IntervalAccumulator(POLICY, strict=True)
    acc.feed_all(shuffled)
    assert acc.pending_out_of_order == 0
    assert acc.anomalies == 0
    for queue in ("housing", "noise"):
        for start in range(BASE, BASE + 4 * 3600, 1800):
            got = acc.stats(queue, start, start + 1800)
            want = oracle(calls, queue, start, start + 1800)
            for name, value in want.items():
                assert getattr(got, name) == value, (name, queue, start)
            for formula in SlFormula:
                sl = got.service_level(formula)
                assert sl == oracle_sl(want, formula)
                assert sl is None or 0.0 <= sl <= 1.0
            expected_asa = (
                want["answer_wait_total"] / want["answered"] if want["answered"] else None
            )
            assert got.asa == expected_asa


@settings(max_examples=200, deadline=None)
@given(calls=call_logs(), data=st.data())
def test_merging_the_parts_equals_computing_over_the_union(
    calls: list[Call], data: st.DataObject
) -> None:
    # Split calls between two accumulators (two controllers, or two days) and add them up.
    mask = data.draw(st.lists(st.booleans(), min_size=len(calls), max_size=len(calls)))
    left, right, union = (IntervalAccumulator(POLICY) for _ in range(3))
    for call, goes_left in zip(calls, mask, strict=True):
        (left if goes_left else right).feed_all(events_of(call))
        union.feed_all(events_of(call))
    for queue in ("housing", "noise"):
        whole = union.stats(queue, BASE, BASE + 4 * 3600)
        assert_same(
            left.stats(queue, BASE, BASE + 4 * 3600) + right.stats(queue, BASE, BASE + 4 * 3600),
            whole,
        )
    # 30-minute intervals are the sums of their 15-minute halves, and a day is the sum of all.
    fifteen, thirty = union.intervals(900), union.intervals(1800)
    for (queue, start), stats in thirty.items():
        halves = [fifteen.get((queue, s)) for s in (start, start + 900)]
        total = IntervalStats.empty(POLICY)
        for half in halves:
            if half is not None:
                total = total + half
        assert_same(total, stats)


@settings(max_examples=100, deadline=None)
@given(calls=call_logs())
def test_a_queue_log_round_trip_keeps_every_figure(calls: list[Call]) -> None:
    events = sorted((e for c in calls for e in events_of(c)), key=lambda e: e.at)
    translator = QueueLogTranslator()
    lines = [format_line(r) for e in events for r in translator.records_for(e)]
    direct, replayed = IntervalAccumulator(POLICY), IntervalAccumulator(POLICY)
    direct.feed_all(events)
    replayed.feed_all(events_from_records(parse_lines(lines)))
    for queue in ("housing", "noise"):
        a = direct.stats(queue, BASE, BASE + 4 * 3600)
        b = replayed.stats(queue, BASE, BASE + 4 * 3600)
        for name in ("offered", "answered", "answered_within", "abandoned", "short_abandons",
                     "timed_out", "answer_wait_total", "talk_total"):  # fmt: skip
            assert getattr(a, name) == getattr(b, name), name
