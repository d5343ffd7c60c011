"""CallSession with the built-in flow: answer, greeting, hang up (issue 2)."""

from __future__ import annotations

import json

import pytest

from line311.call.commands import Answer, Hangup, Play
from line311.call.events import (
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    PlaybackFinished,
    PlaybackStarted,
)
from line311.ivr.errors import SessionRestoreError
from line311.ivr.session import ANSWER_TIMEOUT, CallSession, Outcome, State

T0 = 1000.0


def new_session(**kwargs) -> CallSession:
    return CallSession("c1", "311", T0, **kwargs)


def answered_session(**kwargs) -> CallSession:
    s = new_session(**kwargs)
    s.commands()
    s.receive(Answered(), T0 + 0.1)
    return s


def test_given_a_new_call_then_it_is_answered_first():
    s = new_session()
    assert s.commands() == [Answer()]
    assert s.state is State.ANSWERING
    assert s.next_deadline() == T0 + ANSWER_TIMEOUT
    assert not s.finished
    assert s.outcome is None


def test_given_answered_then_the_greeting_plays_in_english():
    s = answered_session()
    assert s.commands() == [Play(playback_id="c1-p1", prompt_id="greeting", language="en")]
    assert s.state is State.PLAYING


def test_given_greeting_finished_then_hangup_and_completed():
    s = answered_session()
    s.commands()
    s.receive(PlaybackStarted("c1-p1"), T0 + 0.2)
    s.receive(PlaybackFinished("c1-p1"), T0 + 3.0)
    assert s.commands() == [Hangup()]
    assert s.finished
    assert s.state is State.DONE
    assert s.outcome is Outcome.COMPLETED
    rec = s.record()
    assert rec["outcome"] == "completed"
    assert rec["started_at"] == T0
    assert rec["answered_at"] == T0 + 0.1
    assert rec["ended_at"] == T0 + 3.0
    assert rec["prompts"] == [{"prompt_id": "greeting", "language": "en", "at": T0 + 0.1}]
    json.dumps(rec)


def test_given_failed_playback_then_hangup_and_failed():
    s = answered_session()
    s.commands()
    s.receive(PlaybackFinished("c1-p1", failed=True), T0 + 1)
    [cmd] = s.commands()
    assert isinstance(cmd, Hangup)
    assert cmd.reason != "normal"
    assert s.outcome is Outcome.FAILED


@pytest.mark.parametrize("answered", [False, True])
def test_given_caller_hangs_up_then_abandoned_without_commands(answered):
    s = answered_session() if answered else new_session()
    s.commands()
    s.receive(CallerHungUp(), T0 + 1)
    assert s.commands() == []
    assert s.finished
    assert s.outcome is Outcome.ABANDONED
    assert s.next_deadline() is None


def test_given_a_new_call_when_its_asterisk_is_lost_then_media_server_lost_without_commands():
    s = answered_session()
    s.commands()
    s.receive(CallerHungUp(media_server_lost=True), T0 + 1)
    assert s.commands() == []
    assert s.outcome is Outcome.MEDIA_SERVER_LOST
    assert s.record()["end_reason"] == "media-server-lost"


def test_given_command_failed_then_hangup_and_failed():
    s = new_session()
    s.commands()
    s.receive(CommandFailed(command="Answer", reason="404 channel not found"), T0 + 0.5)
    assert s.commands() == [Hangup(reason="command-failed:Answer:404 channel not found")]
    assert s.outcome is Outcome.FAILED


def test_given_answer_not_confirmed_in_time_then_watchdog_hangs_up():
    s = new_session()
    s.commands()
    s.handle_timer(T0 + ANSWER_TIMEOUT - 0.01)
    assert s.commands() == []
    assert not s.finished
    s.handle_timer(T0 + ANSWER_TIMEOUT)
    assert s.commands() == [Hangup(reason="answer-timeout")]
    assert s.outcome is Outcome.FAILED
    assert s.record()["end_reason"] == "answer-timeout"


def test_given_playback_never_finishes_then_watchdog_hangs_up():
    s = answered_session(max_playback=30.0)
    s.commands()
    assert s.next_deadline() == T0 + 0.1 + 30.0
    s.handle_timer(T0 + 31)
    assert s.commands() == [Hangup(reason="playback-timeout")]
    assert s.outcome is Outcome.FAILED


def test_given_late_event_after_deadline_then_the_deadline_wins():
    s = new_session()
    s.commands()
    s.receive(Answered(), T0 + ANSWER_TIMEOUT + 1)
    assert s.commands() == [Hangup(reason="answer-timeout")]


def test_given_stale_playback_finished_then_ignored():
    s = answered_session()
    s.commands()
    s.receive(PlaybackFinished("other"), T0 + 1)
    assert s.commands() == []
    assert s.state is State.PLAYING


def test_given_dtmf_during_greeting_then_ignored():
    s = answered_session()
    s.commands()
    s.receive(DtmfReceived("5"), T0 + 1)
    assert s.commands() == []
    assert s.state is State.PLAYING


def test_given_unexpected_event_then_terminal_with_reason():
    s = answered_session()
    s.commands()
    s.receive(Answered(), T0 + 1)
    assert s.commands() == [Hangup(reason="unexpected Answered in state playing")]
    assert s.finished
    assert s.outcome is Outcome.FAILED
    assert s.record()["end_reason"] == "unexpected Answered in state playing"


def test_given_finished_session_then_further_events_emit_nothing():
    s = answered_session()
    s.receive(CallerHungUp(), T0 + 1)
    s.commands()
    for event in (Answered(), PlaybackFinished("c1-p1"), CommandFailed("x", "y"), CallerHungUp()):
        s.receive(event, T0 + 2)
    s.handle_timer(T0 + 1e6)
    assert s.commands() == []
    assert s.outcome is Outcome.ABANDONED


def test_given_saved_session_when_restored_then_it_resumes():
    s = answered_session()
    s.commands()
    data = json.loads(json.dumps(s.to_dict()))
    r = CallSession.from_dict(data)
    assert r.state is State.PLAYING
    assert r.next_deadline() == s.next_deadline()
    r.receive(PlaybackFinished("c1-p1"), T0 + 2)
    assert r.commands() == [Hangup()]
    assert r.outcome is Outcome.COMPLETED


def test_given_garbage_when_restoring_then_clear_error():
    with pytest.raises(SessionRestoreError):
        CallSession.from_dict({"schema": 1})
    with pytest.raises(SessionRestoreError):
        CallSession.from_dict({"schema": 99})
