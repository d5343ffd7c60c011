"""HandoffSession: a worker's call moved to the controller, tried again on hold, given up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.commands import Hangup
from line311.call.events import CallerHungUp, CommandFailed, DtmfReceived, MoveFailed, Resumed
from line311.call.handoff import (
    HANDED_OFF,
    MAX_TRIES,
    MOVE_WAIT,
    RETRY_SECONDS,
    HandoffSession,
    MoveCall,
    StartHold,
)

T0 = 1_700_000_000.0
MOVE = MoveCall("c1", "line311", ("handover",))


def session(now: float = T0) -> HandoffSession:
    return HandoffSession("c1", "line311", ["handover"], now)


def test_given_a_new_hand_off_then_it_moves_the_channel_at_once_and_waits_for_its_stasis_end() -> (
    None
):
    s = session()
    assert s.commands() == [MOVE]
    assert s.commands() == []  # taken once
    assert s.tries == 1
    assert not s.finished
    assert s.outcome is None
    assert s.next_deadline() == T0 + MOVE_WAIT


def test_given_a_move_when_the_stasis_end_comes_then_the_call_is_handed_off() -> None:
    s = session()
    s.commands()
    s.receive(CallerHungUp(), T0 + 0.2)
    assert s.finished
    assert s.outcome == HANDED_OFF
    assert s.next_deadline() is None
    assert s.commands() == []


@pytest.mark.parametrize("failure", [MoveFailed(), CommandFailed("MoveCall", "asterisk-error")])
def test_given_a_failed_move_when_it_fails_again_then_music_starts_once_and_the_move_is_retried(
    failure: object,
) -> None:
    s = session()
    s.commands()
    s.receive(failure, T0 + 0.1)  # type: ignore[arg-type]
    assert s.commands() == [StartHold("c1")]
    assert s.next_deadline() == pytest.approx(T0 + 0.1 + RETRY_SECONDS)
    s.handle_timer(T0 + 0.1 + RETRY_SECONDS / 2)  # too early: nothing
    assert s.commands() == []
    s.handle_timer(T0 + 0.1 + RETRY_SECONDS)
    assert s.commands() == [MOVE]
    assert s.tries == 2
    s.receive(failure, T0 + 2.0)  # type: ignore[arg-type]
    assert s.commands() == []  # on hold already: no second StartHold
    assert s.next_deadline() == pytest.approx(T0 + 2.0 + RETRY_SECONDS)


def test_given_a_move_accepted_when_no_stasis_end_comes_within_the_wait_then_it_is_tried_again() -> (
    None
):
    s = session()
    s.commands()
    s.handle_timer(T0 + MOVE_WAIT - 0.01)
    assert s.commands() == []
    s.handle_timer(T0 + MOVE_WAIT)
    assert s.commands() == [MOVE]  # no hold: the move was not refused
    assert s.tries == 2
    assert s.next_deadline() == T0 + 2 * MOVE_WAIT


def test_given_every_try_fails_when_max_tries_are_spent_then_it_hangs_up_failed() -> None:
    s = session()
    now = T0
    moves = len([c for c in s.commands() if isinstance(c, MoveCall)])
    for _ in range(MAX_TRIES + 5):
        if s.finished:
            break
        s.receive(MoveFailed(), now)
        now = s.next_deadline() or now
        s.handle_timer(now)
        moves += len([c for c in s.commands() if isinstance(c, MoveCall)])
    assert moves == MAX_TRIES == s.tries
    assert s.finished
    assert s.outcome == "failed"
    assert s.next_deadline() is None


def test_given_the_last_try_when_the_timer_fires_then_the_only_command_is_hangup() -> None:
    s = HandoffSession.from_dict(
        {"call_id": "c1", "app": "line311", "args": ["handover"], "tries": MAX_TRIES,
         "holding": True, "deadline": T0, "outcome": None}
    )  # fmt: skip
    s.handle_timer(T0)
    assert s.commands() == [Hangup()]
    assert s.outcome == "failed"


def test_given_a_resumed_session_then_it_moves_again_at_once() -> None:
    s = session()
    s.commands()
    restored = HandoffSession.from_dict(s.to_dict())
    restored.receive(Resumed(), T0 + 10)
    assert restored.commands() == [MOVE]
    assert restored.tries == 2
    assert restored.next_deadline() == T0 + 10 + MOVE_WAIT


def test_given_a_finished_session_then_events_and_timers_do_nothing() -> None:
    s = session()
    s.commands()
    s.receive(CallerHungUp(), T0)
    for event in (MoveFailed(), Resumed(), CommandFailed("MoveCall", "x"), CallerHungUp()):
        s.receive(event, T0 + 1)
    s.handle_timer(T0 + 100)
    assert s.commands() == []
    assert s.outcome == HANDED_OFF


def test_given_an_event_it_does_not_know_then_nothing_changes() -> None:
    s = session()
    s.commands()
    before = s.to_dict()
    s.receive(DtmfReceived("5"), T0 + 1)
    assert s.to_dict() == before
    assert s.commands() == []


def test_given_a_session_on_hold_when_saved_and_restored_then_the_same_state_and_deadline() -> None:
    s = session()
    s.commands()
    s.receive(MoveFailed(), T0 + 0.5)
    data = s.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON, as the store keeps it
    assert data == {
        "call_id": "c1",
        "app": "line311",
        "args": ["handover"],
        "tries": 1,
        "holding": True,
        "deadline": T0 + 0.5 + RETRY_SECONDS,
        "outcome": None,
    }
    restored = HandoffSession.from_dict(data)
    assert restored.to_dict() == data
    assert restored.next_deadline() == T0 + 0.5 + RETRY_SECONDS
    restored.receive(MoveFailed(), T0 + 2)
    assert restored.commands() == []  # still on hold: no second StartHold
    restored.handle_timer(T0 + 2 + RETRY_SECONDS)
    assert restored.commands() == [MOVE]


def test_given_a_finished_session_when_restored_then_it_is_finished_without_deadline() -> None:
    s = session()
    s.receive(CallerHungUp(), T0)
    restored = HandoffSession.from_dict(s.to_dict())
    assert restored.finished
    assert restored.outcome == HANDED_OFF
    assert restored.next_deadline() is None


def test_given_a_sparse_saved_state_then_defaults_are_used() -> None:
    restored = HandoffSession.from_dict({"call_id": "c9", "app": "line311", "args": None})
    assert (restored.args, restored.tries, restored.next_deadline()) == ((), 0, None)
    assert not restored.finished
    restored.handle_timer(T0)  # no deadline: nothing
    assert restored.commands() == []
    restored.receive(Resumed(), T0)
    assert restored.commands() == [MoveCall("c9", "line311", ())]


# ---------------------------------------------------------------------------- property
EVENTS = st.sampled_from(
    [MoveFailed(), CommandFailed("MoveCall", "x"), Resumed(), CallerHungUp(), DtmfReceived("1")]
)
STEP = st.one_of(
    st.tuples(st.just("event"), EVENTS),
    st.tuples(st.just("timer"), st.floats(-1.0, 5.0, allow_nan=False)),
    st.tuples(st.just("save"), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=120))
def test_whatever_happens_it_never_moves_more_than_max_tries_and_is_never_stuck(
    steps: list[tuple[str, Any]],
) -> None:
    s = session()
    now = T0
    emitted = list(s.commands())
    for what, arg in steps:
        if what == "event":
            now += 0.01
            s.receive(arg, now)
        elif what == "timer":
            deadline = s.next_deadline()
            now = max(now, (deadline if deadline is not None else now) + arg)
            s.handle_timer(now)
        else:
            s = HandoffSession.from_dict(json.loads(json.dumps(s.to_dict())))
        emitted.extend(s.commands())
        assert s.finished or s.next_deadline() is not None
    moves = [c for c in emitted if isinstance(c, MoveCall)]
    holds = [c for c in emitted if isinstance(c, StartHold)]
    hangups = [c for c in emitted if isinstance(c, Hangup)]
    assert 1 <= len(moves) <= MAX_TRIES
    assert len(holds) <= 1
    assert len(hangups) == (1 if s.outcome == "failed" else 0)
    assert s.outcome in (None, HANDED_OFF, "failed")
    if hangups:
        assert emitted[-1] == Hangup()
