"""The supervisor phone line as a pure state machine: events and a fake clock in, commands out."""

from __future__ import annotations

from typing import Any

import pytest

from line311.call.commands import (
    Answer,
    CheckAudio,
    CheckPin,
    Hangup,
    Play,
    PlayRecording,
    Record,
    StopPlayback,
    StopRecording,
    SubmitAlert,
)
from line311.call.events import (
    AlertSubmitted,
    AudioChecked,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    PinChecked,
    PlaybackFinished,
    RecordingFinished,
    Resumed,
)
from line311.call.ports import Session
from line311.messaging.phone import SupervisorSession, SupervisorState


class Driver:
    """Plays the edge and Asterisk around one session, on a fake clock."""

    def __init__(self, *, line: str = "PJSIP/agent3") -> None:
        self.now = 1_750_000_000.0
        self.session = SupervisorSession("1700000000.7", self.now, line=line)
        self.log: list[Any] = list(self.session.commands())

    def send(self, event: Any) -> list[Any]:
        self.session.receive(event, self.now)
        out = list(self.session.commands())
        self.log.extend(out)
        return out

    def timer(self) -> list[Any]:
        self.now = self.session.next_deadline() or self.now
        self.session.handle_timer(self.now)
        out = list(self.session.commands())
        self.log.extend(out)
        return out

    def keys(self, digits: str) -> list[Any]:
        out: list[Any] = []
        for d in digits:
            out += self.send(DtmfReceived(d))
        return out

    def last_play(self) -> Play | PlayRecording:
        return next(c for c in reversed(self.log) if isinstance(c, Play | PlayRecording))

    def finish_prompt(self) -> list[Any]:
        return self.send(PlaybackFinished(self.last_play().playback_id))

    def heard(self, out: list[Any]) -> list[str]:
        """The prompts ``out`` starts playing, played to their end (one playback each);
        `tail` holds the commands that followed the last one."""
        plays = [c for c in out if isinstance(c, Play | PlayRecording)]
        assert plays, out
        heard: list[str] = []
        play = plays[0]
        while True:
            heard.append(play.prompt_id if isinstance(play, Play) else f"recording:{play.name}")
            self.tail = self.send(PlaybackFinished(play.playback_id))
            nxt = [c for c in self.tail if isinstance(c, Play | PlayRecording)]
            if not nxt:
                return heard
            play = nxt[0]

    def sign_in(self) -> None:
        self.keys("1234#")
        [check] = [c for c in self.keys("9876#") if isinstance(c, CheckPin)]
        assert (check.line, check.phone_id, check.pin) == ("PJSIP/agent3", "1234", "9876")
        assert "9876" not in repr(check)
        self.send(PinChecked(ok=True, username="maria"))

    def record_ok(self) -> str:
        [start] = [c for c in self.finish_prompt() if isinstance(c, Record)]
        [check] = [c for c in self.send(RecordingFinished(start.name)) if isinstance(c, CheckAudio)]
        self.send(AudioChecked(check.name))
        return start.name


def test_the_session_implements_the_call_session_protocol():
    assert isinstance(Driver().session, Session)


def test_given_a_call_when_it_starts_then_it_is_answered_and_asked_for_the_id():
    d = Driver()
    assert [type(c) for c in d.log] == [Answer, Play]
    assert d.last_play() == Play("1700000000.7-sup-1", "sup_enter_id", "en")


def test_given_a_supervisor_when_signing_in_then_the_recording_starts_after_the_instructions():
    d = Driver()
    d.sign_in()
    assert d.session.state is SupervisorState.RECORDING
    assert d.last_play().prompt_id == "sup_record"  # type: ignore[union-attr]
    assert d.session.next_deadline() is None  # no timer while the instructions play
    out = d.finish_prompt()
    assert out == [Record("alert-1700000000-7-1", 180, beep=True, terminate_on="#")]
    assert d.session.recordings == ("alert-1700000000-7-1",)


def test_given_the_full_path_when_submitted_then_the_choices_are_sent_and_the_line_says_goodbye():
    d = Driver()
    d.sign_in()
    name = d.record_ok()
    played = d.last_play()
    assert played == PlayRecording(played.playback_id, name)
    assert d.heard([played]) == [f"recording:{name}", "sup_review"]
    d.keys("1")  # keep
    d.keys("2")  # Spanish
    d.keys("2")  # only Spanish callers
    d.keys("4#")  # 4 hours
    [submit] = [c for c in d.keys("1") if isinstance(c, SubmitAlert)]
    assert submit == SubmitAlert("maria", name, "es", False, 4)
    assert d.heard(d.send(AlertSubmitted("20250704-abcd"))) == ["sup_submitted"]
    assert d.tail == [Hangup()]
    assert d.session.finished
    assert d.session.outcome == "submitted"
    assert d.session.next_deadline() is None
    assert "9876" not in repr(d.session.to_dict())


def test_given_a_recording_when_the_supervisor_presses_2_then_it_records_again():
    d = Driver()
    d.sign_in()
    first = d.record_ok()
    d.keys("2")
    second = d.record_ok()
    assert first != second
    assert d.session.state is SupervisorState.REVIEW
    assert d.session.recordings == (first, second)


@pytest.mark.parametrize(
    ("problem", "prompt"),
    [
        ("too-short", "sup_too_short"),
        ("silent", "sup_silent"),
        ("too-long", "sup_too_long"),
        ("corrupt", "sup_error"),
    ],
)
def test_given_a_bad_recording_then_the_reason_is_spoken_and_it_records_again(problem, prompt):
    d = Driver()
    d.sign_in()
    [start] = [c for c in d.finish_prompt() if isinstance(c, Record)]
    d.send(RecordingFinished(start.name))
    assert d.heard(d.send(AudioChecked(start.name, problem))) == [prompt, "sup_record"]
    assert d.session.state is SupervisorState.RECORDING
    assert d.tail == [Record("alert-1700000000-7-2", 180)]


def test_given_an_earlier_takes_events_then_they_are_ignored():
    d = Driver()
    d.sign_in()
    first = d.record_ok()
    d.keys("2")
    assert d.send(RecordingFinished(first)) == []
    assert d.send(AudioChecked(first)) == []
    assert d.session.state is SupervisorState.RECORDING


def test_given_a_failed_recording_then_the_supervisor_hears_an_error_and_the_line_ends():
    d = Driver()
    d.sign_in()
    [start] = [c for c in d.finish_prompt() if isinstance(c, Record)]
    assert d.heard(d.send(RecordingFinished(start.name, failed=True))) == ["sup_error"]
    assert d.tail == [Hangup()]
    assert d.session.outcome == "failed:recording"


def test_given_a_recording_that_never_ends_then_it_is_stopped_at_its_deadline():
    d = Driver()
    d.sign_in()
    [start] = [c for c in d.finish_prompt() if isinstance(c, Record)]
    assert d.session.next_deadline() == d.now + 180 + 15
    out = d.timer()
    assert out[0] == StopRecording(start.name)
    assert d.heard(out) == ["sup_error"]
    assert d.session.outcome == "failed:timeout"


def test_given_three_wrong_pins_in_a_call_then_the_line_says_locked_and_hangs_up():
    d = Driver()
    for attempt in range(3):
        d.keys("1234#")
        d.keys("0000#")
        out = d.send(PinChecked(ok=False))
        if attempt < 2:
            assert d.heard(out) == ["sup_wrong_pin", "sup_enter_id"]
    assert d.heard(out) == ["sup_locked"]
    assert d.tail == [Hangup()]
    assert d.session.outcome == "locked"


def test_given_a_locked_line_when_the_pin_is_checked_then_it_says_locked_at_once():
    d = Driver()
    d.keys("1234#9876#")
    assert d.heard(d.send(PinChecked(ok=False, locked=True))) == ["sup_locked"]


def test_given_silence_then_the_menu_repeats_and_after_three_the_call_ends():
    d = Driver()
    for _ in range(2):
        assert d.heard(d.timer()) == ["no_input", "sup_enter_id"]
    assert d.heard(d.timer()) == ["goodbye"]
    assert d.session.outcome == "no-input"


def test_given_a_goodbye_that_never_finishes_then_the_line_hangs_up_at_its_deadline():
    d = Driver()
    d.keys("1234#9876#")
    d.send(PinChecked(ok=False, locked=True))
    assert d.timer() == [StopPlayback(d.last_play().playback_id), Hangup()]
    assert d.session.finished


def test_given_an_invalid_choice_then_it_says_so_and_asks_again():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1")
    assert d.heard(d.keys("9")) == ["invalid_choice", "sup_choose_language"]
    d.keys("1")
    d.keys("1")
    assert d.heard(d.keys("99#")) == ["invalid_choice", "sup_enter_hours"]
    assert d.heard(d.keys("#")) == ["invalid_choice", "sup_enter_hours"]


def test_given_an_id_too_long_then_it_is_asked_again():
    d = Driver()
    assert d.heard(d.keys("123456789#")) == ["invalid_choice", "sup_enter_id"]


def test_given_digits_during_a_prompt_then_it_stops_barge_in():
    d = Driver()
    first = d.last_play().playback_id
    assert d.keys("1") == [StopPlayback(first)]
    assert d.send(PlaybackFinished(first)) == []  # the stopped playback's end: stale


def test_given_a_cancel_at_the_end_then_nothing_is_submitted():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1112#")
    assert d.heard(d.keys("2")) == ["sup_cancelled"]
    assert not any(isinstance(c, SubmitAlert) for c in d.log)
    assert d.session.outcome == "cancelled"


def test_given_a_hang_up_mid_recording_then_the_session_ends_without_commands():
    d = Driver()
    d.sign_in()
    assert d.send(CallerHungUp()) == []
    assert d.session.finished
    assert d.session.outcome == "hung-up"


def test_given_a_failed_submission_then_the_supervisor_hears_an_error():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1112#1")
    assert d.heard(d.send(AlertSubmitted(None))) == ["sup_error"]
    assert d.session.outcome == "failed:submit"


def test_given_a_command_that_fails_then_the_line_hangs_up_unless_it_was_a_stop():
    d = Driver()
    assert d.send(CommandFailed("StopPlayback", "ari-not-found")) == []
    assert not d.session.finished
    out = d.send(CommandFailed("Play", "ari-unreachable"))
    assert out == [StopPlayback(d.last_play().playback_id), Hangup()]
    assert d.session.outcome == "failed:Play:ari-unreachable"


def test_given_a_state_when_saved_and_restored_then_it_carries_on_the_same():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1")
    restored = SupervisorSession.from_dict(d.session.to_dict())
    assert restored.to_dict() == d.session.to_dict()
    d.session = restored
    d.keys("1")
    d.keys("1")
    d.keys("2#")
    [submit] = [c for c in d.keys("1") if isinstance(c, SubmitAlert)]
    assert (submit.username, submit.language, submit.hours) == ("maria", "en", 2)


def test_given_a_prompt_playing_when_resumed_then_it_is_played_again_from_its_start():
    d = Driver()
    d.keys("1234#")
    old = d.last_play()
    d.session = SupervisorSession.from_dict(d.session.to_dict())
    out = d.send(Resumed())
    assert out[0] == StopPlayback(old.playback_id)
    [again] = out[1:]
    assert isinstance(again, Play)
    assert (again.prompt_id, again.playback_id != old.playback_id) == (old.prompt_id, True)
    assert d.send(PlaybackFinished(old.playback_id)) == []  # the stopped one: stale
    d.finish_prompt()
    [check] = [c for c in d.keys("9876#") if isinstance(c, CheckPin)]
    assert check.pin == "9876"


def test_given_nothing_playing_when_resumed_then_nothing_is_done():
    d = Driver()
    d.finish_prompt()
    assert d.send(Resumed()) == []


def test_given_a_pin_being_typed_when_saved_then_it_is_not_and_the_restored_call_asks_again():
    d = Driver()
    d.keys("1234#98")
    saved = d.session.to_dict()
    assert "98" not in repr({k: v for k, v in saved.items() if k != "call_id"})
    d.session = SupervisorSession.from_dict(saved)
    assert d.heard(d.keys("76#")) == ["invalid_choice", "sup_enter_pin"]
    [check] = [c for c in d.keys("9876#") if isinstance(c, CheckPin)]
    assert check.pin == "9876"


def test_given_a_state_of_another_kind_then_it_is_refused():
    with pytest.raises(ValueError, match="not a supervisor-line"):
        SupervisorSession.from_dict({"kind": "ivr"})
