"""A session rebuilt by another process (`Resumed`): it re-does what may have been lost."""

from __future__ import annotations

import json

from line311.call.commands import Answer, Play, SrLookup, StopPlayback
from line311.call.events import Resumed, SrLookupResult
from line311.call.srnumber import make_sr_number
from line311.ivr.session import CallSession, State
from tests.unit.ivr.ivr_driver import FLOW, FakeCall

SR = make_sr_number(427)


def moved(call: FakeCall) -> None:
    """The call carries on as a session rebuilt from its saved state."""
    call.s = CallSession.from_dict(json.loads(json.dumps(call.s.to_dict())), flow=FLOW)


def test_given_a_prompt_playing_when_resumed_then_it_is_stopped_and_played_again():
    call = FakeCall()
    call.answer()
    playing = call.playing
    assert playing is not None
    moved(call)
    cmds = call.send(Resumed())
    assert cmds[0] == StopPlayback(playing.playback_id)
    assert isinstance(cmds[1], Play)
    assert (cmds[1].prompt_id, cmds[1].language) == (playing.prompt_id, playing.language)
    assert cmds[1].playback_id != playing.playback_id
    assert call.s.state is State.PLAYING


def test_given_a_call_not_yet_answered_when_resumed_then_it_answers_again():
    call = FakeCall()
    moved(call)
    assert call.send(Resumed()) == [Answer()]


def test_given_keys_awaited_when_resumed_then_nothing_is_said_and_keys_work():
    call = FakeCall()
    call.to_main_menu()
    assert call.s.state is State.COLLECTING
    moved(call)
    assert call.send(Resumed()) == []
    assert any(isinstance(c, Play) for c in call.press("*"))


def test_given_a_lookup_under_way_when_resumed_then_it_is_asked_again_and_answered():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    call.play_through()  # "please wait" is over; the answer is not there yet
    assert call.s.state is State.LOOKING_UP
    moved(call)
    assert call.send(Resumed()) == [SrLookup(SR)]
    cmds = call.send(SrLookupResult(SR, "not_found"))
    assert [c.prompt_id for c in cmds if isinstance(c, Play)] == ["sr_not_found"]
