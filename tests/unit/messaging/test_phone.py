"""The supervisor phone line as a pure state machine: events and a fake clock in, commands out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.messaging.phone import (
    AudioChecked,
    CheckAudio,
    CheckPin,
    DigitPressed,
    Hangup,
    HungUp,
    LineLock,
    PinChecked,
    Play,
    PlaybackDone,
    PlayRecording,
    RecordingDone,
    StartRecording,
    Submission,
    Submit,
    Submitted,
    SupervisorSession,
    SupervisorState,
    after_failure,
    after_success,
    hash_pin,
    is_locked,
    verify_pin,
)


class Driver:
    def __init__(self) -> None:
        self.now = 0.0
        self.session = SupervisorSession("1700000000.7", self.now)
        self.log = list(self.session.commands())

    def send(self, event: object) -> list[object]:
        self.session.receive(event, self.now)  # type: ignore[arg-type]
        out = self.session.commands()
        self.log.extend(out)
        return list(out)

    def keys(self, digits: str) -> list[object]:
        out: list[object] = []
        for d in digits:
            out += self.send(DigitPressed(d))
        return out

    def last_play(self) -> Play | PlayRecording:
        return next(c for c in reversed(self.log) if isinstance(c, Play | PlayRecording))

    def finish_prompt(self) -> list[object]:
        return self.send(PlaybackDone(self.last_play().playback_id))

    def sign_in(self) -> None:
        self.keys("1234#")
        [check] = [c for c in self.keys("9876#") if isinstance(c, CheckPin)]
        assert (check.phone_id, check.pin) == ("1234", "9876")
        self.send(PinChecked(ok=True, username="maria"))

    def record_ok(self) -> str:
        [start] = [c for c in self.finish_prompt() if isinstance(c, StartRecording)]
        [check] = [c for c in self.send(RecordingDone(start.name)) if isinstance(c, CheckAudio)]
        self.send(AudioChecked(check.name))
        return start.name


def test_given_a_supervisor_when_signing_in_then_the_recording_starts_after_the_instructions():
    d = Driver()
    assert d.last_play().prompt_ids == ("sup_enter_id",)  # type: ignore[union-attr]
    d.sign_in()
    assert d.session.state is SupervisorState.RECORDING
    assert d.last_play().prompt_ids == ("sup_record",)  # type: ignore[union-attr]
    out = d.finish_prompt()
    assert [type(c) for c in out] == [StartRecording]
    assert out[0].max_seconds == 180  # type: ignore[attr-defined]


def test_given_the_full_path_when_submitted_then_the_choices_are_sent_and_the_line_says_goodbye():
    d = Driver()
    d.sign_in()
    name = d.record_ok()
    played = d.last_play()
    assert isinstance(played, PlayRecording)
    assert (played.name, played.prompt_ids) == (name, ("sup_review",))
    d.keys("1")  # keep
    d.keys("2")  # Spanish
    d.keys("2")  # only Spanish callers
    d.keys("4#")  # 4 hours
    [submit] = [c for c in d.keys("1") if isinstance(c, Submit)]
    assert submit.submission == Submission("maria", name, "es", False, 4)
    d.send(Submitted("20250704-abcd"))
    assert d.last_play().prompt_ids == ("sup_submitted",)  # type: ignore[union-attr]
    assert [type(c) for c in d.finish_prompt()] == [Hangup]
    assert d.session.finished
    assert d.session.to_dict()["outcome"] == "submitted"
    assert "9876" not in repr(d.session.to_dict())


def test_given_a_recording_when_the_supervisor_presses_2_then_it_records_again():
    d = Driver()
    d.sign_in()
    first = d.record_ok()
    d.keys("2")
    second = d.record_ok()
    assert first != second
    assert d.session.state is SupervisorState.REVIEW


@pytest.mark.parametrize(
    ("problem", "prompt"),
    [("too-short", "sup_too_short"), ("silent", "sup_silent"), ("too-long", "sup_too_long")],
)
def test_given_a_bad_recording_then_the_reason_is_spoken_and_it_records_again(problem, prompt):
    d = Driver()
    d.sign_in()
    [start] = [c for c in d.finish_prompt() if isinstance(c, StartRecording)]
    d.send(RecordingDone(start.name))
    d.send(AudioChecked(start.name, problem))
    assert d.last_play().prompt_ids == (prompt, "sup_record")  # type: ignore[union-attr]
    assert d.session.state is SupervisorState.RECORDING


def test_given_three_wrong_pins_in_a_call_then_the_line_says_locked_and_hangs_up():
    d = Driver()
    for attempt in range(3):
        d.keys("1234#")
        d.keys("0000#")
        d.send(PinChecked(ok=False))
        if attempt < 2:
            assert d.last_play().prompt_ids == ("sup_wrong_pin", "sup_enter_id")  # type: ignore[union-attr]
    assert d.last_play().prompt_ids == ("sup_locked",)  # type: ignore[union-attr]
    assert [type(c) for c in d.finish_prompt()] == [Hangup]
    assert d.session.to_dict()["outcome"] == "locked"


def test_given_a_locked_line_when_the_pin_is_checked_then_it_says_locked_at_once():
    d = Driver()
    d.keys("1234#9876#")
    d.send(PinChecked(ok=False, locked=True))
    assert d.last_play().prompt_ids == ("sup_locked",)  # type: ignore[union-attr]


def test_given_silence_then_the_menu_repeats_and_after_three_the_call_ends():
    d = Driver()
    for _ in range(2):
        d.now = d.session.next_deadline() or 0.0
        d.session.handle_timer(d.now)
        d.log += d.session.commands()
        assert d.last_play().prompt_ids == ("no_input", "sup_enter_id")  # type: ignore[union-attr]
    d.now = d.session.next_deadline() or 0.0
    d.session.handle_timer(d.now)
    d.log += d.session.commands()
    assert d.last_play().prompt_ids == ("goodbye",)  # type: ignore[union-attr]


def test_given_an_invalid_choice_then_it_says_so_and_asks_again():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1")
    d.keys("9")
    assert d.last_play().prompt_ids == ("invalid_choice", "sup_choose_language")  # type: ignore[union-attr]
    d.keys("1")
    d.keys("1")
    d.keys("99#")
    assert d.last_play().prompt_ids == ("invalid_choice", "sup_enter_hours")  # type: ignore[union-attr]


def test_given_a_cancel_at_the_end_then_nothing_is_submitted():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1112#")
    out = d.keys("2")
    assert not any(isinstance(c, Submit) for c in d.log)
    assert d.last_play().prompt_ids == ("sup_cancelled",)  # type: ignore[union-attr]
    assert out


def test_given_a_hang_up_mid_recording_then_the_session_ends_without_commands():
    d = Driver()
    d.sign_in()
    assert d.send(HungUp()) == []
    assert d.session.finished


def test_given_a_failed_submission_then_the_supervisor_hears_an_error():
    d = Driver()
    d.sign_in()
    d.record_ok()
    d.keys("1112#1")
    d.send(Submitted(None))
    assert d.last_play().prompt_ids == ("sup_error",)  # type: ignore[union-attr]


# ---------------------------------------------------------------------- PINs and lockout
def test_given_a_pin_when_hashed_then_only_the_same_pin_verifies():
    stored = hash_pin("482913", rounds=1000)
    assert "482913" not in stored
    assert verify_pin("482913", stored)
    assert not verify_pin("482914", stored)
    assert not verify_pin("482913", "garbage")
    assert hash_pin("1234", rounds=1000) != hash_pin("1234", rounds=1000)  # salted


def test_given_three_failures_then_the_line_is_locked_for_the_configured_time():
    t0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)
    lock = LineLock()
    for _ in range(2):
        lock = after_failure(lock, t0, 3, 900)
        assert not is_locked(lock, t0)
    lock = after_failure(lock, t0, 3, 900)
    assert is_locked(lock, t0 + timedelta(seconds=899))
    assert not is_locked(lock, t0 + timedelta(seconds=900))
    assert after_success(lock) == LineLock()


events = st.one_of(
    st.builds(DigitPressed, st.sampled_from(list("0123456789*#"))),
    st.builds(PinChecked, st.booleans(), st.just("maria"), st.booleans()),
    st.just(HungUp()),
    st.just("timer"),
    st.just("playback-done"),
    st.just("recording-done"),
    st.just("audio-ok"),
    st.just("submitted"),
)


@settings(max_examples=150, deadline=None)
@given(script=st.lists(events, max_size=60))
def test_given_any_sequence_of_events_then_the_session_never_crashes_and_always_can_end(script):
    d = Driver()
    for item in script:
        if d.session.finished:
            break
        if item == "timer":
            d.now = max(d.now, d.session.next_deadline() or d.now)
            d.session.handle_timer(d.now)
            d.log += d.session.commands()
            continue
        state = d.session.state
        if item == "playback-done":
            d.finish_prompt()
        elif item == "recording-done" and state is SupervisorState.RECORDING:
            d.send(RecordingDone(d.session._recording))
        elif item == "audio-ok" and state is SupervisorState.CHECKING_AUDIO:
            d.send(AudioChecked(d.session._recording))
        elif item == "submitted" and state is SupervisorState.SUBMITTING:
            d.send(Submitted("x"))
        elif (isinstance(item, PinChecked) and state is SupervisorState.CHECKING_PIN) or isinstance(
            item, DigitPressed | HungUp
        ):
            d.send(item)
    # from wherever it is, silence ends the call within a bounded number of timers
    for _ in range(10):
        if d.session.finished:
            break
        deadline = d.session.next_deadline()
        if deadline is None:  # waiting on a playback or a recording to finish
            d.finish_prompt()
            if d.session.state is SupervisorState.RECORDING and d.session.next_deadline() is None:
                break
            continue
        d.now = deadline
        d.session.handle_timer(d.now)
        d.log += d.session.commands()
        if d.session.state is SupervisorState.ENDING:
            d.finish_prompt()
    assert d.session.finished or d.session.next_deadline() is not None
