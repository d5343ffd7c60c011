"""The abandoned-calls list from the live state's memory (no database) equals the list from
the stored events, for any calls fed in the order the controller publishes them, any range
and any moment it is asked for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.dashboard.state import LiveState
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.report import abandoned_calls

BASE = 1_700_000_100
OUTCOMES = (
    "answered",
    "abandoned",
    "lost",
    "timed_out",
    "waiting",
    "callback_answered",
    "callback_abandoned",
    "callback_timed_out",
    "callback_pending",
)
RANK = {CallEnqueued: 0, CallbackRequested: 1, CallCompleted: 3}  # the rest: 2


@st.composite
def calls(draw: st.DrawFn) -> list[QueueEvent]:
    events: list[QueueEvent] = []
    for i in range(draw(st.integers(0, 25))):
        cid, q = f"c{i}", draw(st.sampled_from(["housing", "noise"]))
        t0 = float(BASE + draw(st.integers(0, 1800)))
        wait = float(draw(st.integers(0, 600)))
        outcome = draw(st.sampled_from(OUTCOMES))
        end = t0 + wait
        events.append(CallEnqueued(cid, q, t0))
        if outcome.startswith("callback"):
            events.append(CallbackRequested(cid, q, t0 + min(wait, 3)))
        if outcome.endswith("answered"):
            events.append(CallAnswered(cid, q, end, agent_id="ccr"))
            events.append(CallCompleted(cid, q, end + 60, talk_seconds=60))
        elif outcome.endswith("abandoned"):
            events.append(CallAbandoned(cid, q, end))
        elif outcome == "lost":
            events.append(CallAbandoned(cid, q, end, media_server_lost=True))
        elif outcome.endswith("timed_out"):
            events.append(CallTimedOut(cid, q, end))
    return sorted(events, key=lambda e: (e.at, RANK.get(type(e), 2)))


@settings(max_examples=300, deadline=None)
@given(
    calls(),
    st.integers(-100, 1900),
    st.integers(1, 2400),
    st.integers(0, 3000),
)
def test_the_list_from_memory_equals_the_list_from_the_stored_events(
    events: list[QueueEvent], start: int, length: int, asked: int
) -> None:
    state = LiveState()
    state.apply_all(events)
    lo, hi = float(BASE + start), float(BASE + start + length)
    now = float(BASE + asked)
    assert state.abandoned_calls(lo, hi, now=now) == abandoned_calls(events, lo, hi, now=now)
