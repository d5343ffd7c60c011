"""Properties of CallSession: it always ends, in a defined state, and is silent after Hangup."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.commands import Hangup
from line311.call.events import (
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
)
from line311.ivr.session import CallSession, Outcome, State

T0 = 50.0
PLAYBACK_IDS = st.sampled_from(["c-p1", "c-p2", "c-p3", "other"])
EVENTS = st.one_of(
    st.just(Answered()),
    st.builds(PlaybackStarted, PLAYBACK_IDS),
    st.builds(PlaybackContinuing, PLAYBACK_IDS),
    st.builds(PlaybackFinished, PLAYBACK_IDS, st.booleans()),
    st.builds(DtmfReceived, st.sampled_from(list("0123456789*#"))),
    st.just(CallerHungUp()),
    st.just(CallerHungUp(media_server_lost=True)),
    st.builds(CommandFailed, st.just("Play"), st.just("boom")),
)
STEPS = st.lists(st.tuples(EVENTS, st.floats(0, 200, allow_nan=False)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_any_event_sequence_ends_in_a_defined_state_within_bounded_time(steps):
    s = CallSession("c", "311", T0, max_playback=60.0)
    now = T0
    emitted = list(s.commands())
    for event, dt in steps:
        now += dt
        s.receive(event, now)
        emitted += s.commands()
        assert s.state in State
    # Nothing more happens from outside: deadlines alone must end the call, boundedly.
    for _ in range(1000):
        deadline = s.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        s.handle_timer(now)
        emitted += s.commands()
    assert s.finished
    assert s.state is State.DONE
    assert isinstance(s.outcome, Outcome)
    assert s.record()["outcome"] == s.outcome.value
    hangups = [i for i, c in enumerate(emitted) if isinstance(c, Hangup)]
    assert len(hangups) <= 1
    if hangups:
        assert hangups[0] == len(emitted) - 1, "a command followed Hangup"
