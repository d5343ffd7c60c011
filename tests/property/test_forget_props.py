"""A live state that forgets each call two days on (driven by the facts' time) shows what one
that never forgets shows: the same waits and handle times as each fact comes, the same
snapshot, intervals and abandoned list, for any calls over any days (each call ending within
a few hours, duplicates within one), while it keeps no call that entered more than two days
and an hour before the last fact."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.dashboard.facts import CallEnteredIvr, CallLeftIvr, Fact
from line311.dashboard.state import LiveState
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS

NY = ZoneInfo("America/New_York")
DAY0 = 1_767_243_600.0  # midnight in New York
OUTCOMES = ("answered", "abandoned", "timed_out", "callback_answered", "callback_abandoned")
RANK = {CallEnteredIvr: 0, CallLeftIvr: 1, CallEnqueued: 2, CallbackRequested: 3}


class Remembers(LiveState):
    def forget(self, now: float) -> None:
        pass


@st.composite
def days_of_calls(draw: st.DrawFn) -> list[Fact]:
    timed: list[tuple[float, int, int, Fact]] = []
    for n in range(draw(st.integers(0, 40))):
        cid, q = f"c{n}", draw(st.sampled_from(["housing", "noise"]))
        t0 = DAY0 + draw(st.integers(0, 6 * 86_400))
        wait = float(draw(st.integers(0, 7_200)))
        outcome = draw(st.sampled_from(OUTCOMES))
        facts: list[Fact] = [CallEnteredIvr(cid, t0 - 30), CallLeftIvr(cid, t0, False)]
        facts.append(CallEnqueued(cid, q, t0))
        if outcome.startswith("callback"):
            facts.append(CallbackRequested(cid, q, t0 + min(wait, 3)))
        if outcome.endswith("answered"):
            facts.append(CallAnswered(cid, q, t0 + wait, agent_id=f"ccr{n % 3}"))
            facts.append(CallCompleted(cid, q, t0 + wait + 60, talk_seconds=60))
        elif outcome.endswith("abandoned"):
            facts.append(CallAbandoned(cid, q, t0 + wait))
        else:
            facts.append(CallTimedOut(cid, q, t0 + wait))
        if draw(st.booleans()):  # one of its facts delivered again, within the hour
            again = facts[draw(st.integers(2, len(facts) - 1))]
            late = draw(st.integers(0, 3_600))
            timed.append((again.at + late, RANK.get(type(again), 4), n, again))  # type: ignore[union-attr]
        timed += ((f.at, RANK.get(type(f), 4), n, f) for f in facts)  # type: ignore[union-attr]
    timed.sort(key=lambda t: t[:3])
    return [fact for *_, fact in timed]


@settings(max_examples=200, deadline=None)
@given(days_of_calls(), st.integers(0, 7 * 86_400), st.integers(1, 7 * 86_400))
def test_forgetting_changes_no_figure_and_keeps_two_days_of_calls(
    facts: list[Fact], start: int, length: int
) -> None:
    state, reference = LiveState(tz=NY), Remembers(tz=NY)
    for fact in facts:
        assert state.apply(fact) == reference.apply(fact)
    end = facts[-1].at if facts else DAY0  # type: ignore[union-attr]
    assert state.snapshot(end) == reference.snapshot(end)
    assert state.accumulator.intervals() == reference.accumulator.intervals()
    lo, hi = DAY0 + start, DAY0 + start + length
    assert state.abandoned_calls(lo, hi, end) == reference.abandoned_calls(lo, hi, end)
    oldest = end - KEEP_CALLS - FORGET_EVERY
    assert all(call.enqueued_at >= oldest for call in state.accumulator._calls.values())
    assert all(at >= oldest for _, at in state._answered_by.values())
