"""Properties of CallSession: it always ends, in a defined state, and is silent after Hangup."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.commands import Hangup, Play
from line311.call.events import (
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
)
from line311.ivr.flow import default_flow
from line311.ivr.session import CallSession, Outcome, State
from line311.ivr.state import MAX_RECORD_ENTRIES

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


KEYS = st.sampled_from([*"0123456789*#ABCD", "end"])  # "end": the playing list plays out


@settings(max_examples=30, deadline=None)
@given(st.lists(KEYS, min_size=300, max_size=1_500))
def test_any_long_dtmf_sequence_keeps_the_saved_state_bounded(keys):
    s = CallSession("c", "311", T0, flow=default_flow())
    now = T0
    s.receive(Answered(), now)
    playing = None
    pressed = 0
    for key in keys:
        playing = next((c.playback_id for c in s.commands() if isinstance(c, Play)), playing)
        now += 0.05
        if s.finished:
            break
        if key == "end":
            s.receive(PlaybackFinished(playing or "none"), now)
            continue
        s.receive(DtmfReceived(key), now)
        pressed += 1
    record = s.record()
    for name in ("digits", "prompts", "nodes"):
        assert len(record[name]) <= MAX_RECORD_ENTRIES
    # every key pressed before the call ended is in the record or counted as dropped
    assert len(record["digits"]) + record.get("digits_dropped", 0) == pressed
    assert len(json.dumps(s.to_dict())) < 3 * MAX_RECORD_ENTRIES * 120 + 10_000
