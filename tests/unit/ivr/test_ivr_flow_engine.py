"""The 311 flow end to end in the pure core: languages, self-service, SR status, navigation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from line311.call.commands import Enqueue, Hangup, Play, SrLookup, StopPlayback, Transfer
from line311.call.events import (
    AlertsChanged,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    PlaybackContinuing,
    PlaybackFinished,
    Resumed,
    SrLookupResult,
)
from line311.call.srnumber import make_sr_number
from line311.ivr.errors import SessionRestoreError
from line311.ivr.flow import LANGUAGES, load_flow
from line311.ivr.say import say_date, say_digits
from line311.ivr.session import CallSession, Outcome, State
from line311.ivr.state import MAX_RECORD_ENTRIES
from tests.unit.ivr.ivr_driver import FLOW, FakeCall

SR = make_sr_number(427)
LANGUAGE_MENU = [("language_option", lang) for lang in LANGUAGES] + [("language_other", "en")]
"""The shipped language menu: each language's option in it, then "all other languages"."""


def said(segments, lang):
    return [(p, lang) for p in segments]


def test_given_a_call_then_greeting_alerts_and_language_menu_in_each_language():
    call = FakeCall(alerts=["alert_marathon", "alert_heat"])
    call.answer()
    heard = call.play_through()
    assert heard[:3] == [("greeting", "en"), ("alert_marathon", "en"), ("alert_heat", "en")]
    assert heard[3:] == [*LANGUAGE_MENU]
    assert call.s.state is State.COLLECTING
    rec = call.s.record()
    assert [a["prompt_id"] for a in rec["alerts"]] == ["alert_marathon", "alert_heat"]
    assert [n["node"] for n in rec["nodes"]] == ["greeting", "alerts", "language"]


@pytest.mark.parametrize(("key", "language"), list(zip("1234567", LANGUAGES, strict=True)))
def test_given_language_menu_when_digit_pressed_then_main_menu_in_that_language(key, language):
    call = FakeCall()
    call.to_main_menu(key)
    assert call.sent[-1] == Play(call.sent[-1].playback_id, "main_menu", language)
    rec = call.s.record()
    assert rec["language"] == language
    assert rec["language_selected_by"] == "dtmf"


def test_given_no_language_chosen_when_timeout_then_english():
    call = FakeCall()
    call.answer()
    call.play_through()
    call.wait(FLOW.settings.language_timeout)
    assert call.playing == Play(call.playing.playback_id, "main_menu", "en")
    assert call.s.record()["language_selected_by"] == "timeout"


def test_given_no_alerts_then_straight_to_language_menu():
    call = FakeCall()
    call.answer()
    assert [p for p, _ in call.play_through()][:2] == ["greeting", "language_option"]


def test_given_alerts_changed_then_later_callers_hear_them():
    call = FakeCall()
    call.send(AlertsChanged(("alert_blackout",)))
    call.answer()
    assert [p for p, _ in call.play_through()][:2] == ["greeting", "alert_blackout"]


def test_given_english_when_parking_then_status_spoken_and_self_served_on_hangup():
    call = FakeCall()
    call.to_main_menu("1")
    call.press("1")
    heard = call.play_through()
    assert heard == [
        ("asp_suspended", "en"),
        *said(say_date(dt.date(2025, 7, 4), "en"), "en"),
        ("info_after", "en"),
    ]
    call.send(CallerHungUp())
    assert call.s.outcome is Outcome.SELF_SERVED
    rec = call.s.record()
    assert rec["self_service"][0]["info"] == "asp_today"
    assert [n["node"] for n in rec["nodes"]][-1] == "parking"
    assert [d["digit"] for d in rec["digits"]] == ["1", "1"]
    json.dumps(rec)


def test_given_a_caller_in_the_menus_when_their_asterisk_is_lost_then_the_outcome_names_it():
    call = FakeCall()
    call.to_main_menu("1")
    call.send(CallerHungUp(media_server_lost=True))
    assert call.s.outcome is Outcome.MEDIA_SERVER_LOST
    assert call.s.record()["end_reason"] == "media-server-lost"
    assert call.sent[-1] != Hangup()  # the channel went with its server: nothing to hang up


def test_given_a_self_served_caller_when_their_asterisk_is_lost_then_it_stays_self_served():
    call = FakeCall()
    call.to_main_menu("1")
    call.press("1")
    call.play_through()
    call.send(CallerHungUp(media_server_lost=True))
    assert call.s.outcome is Outcome.SELF_SERVED
    assert call.s.record()["end_reason"] == "media-server-lost"


def test_given_missing_content_then_information_unavailable_and_not_self_served():
    call = FakeCall(info={})
    call.to_main_menu("1")
    call.press("1")
    assert [p for p, _ in call.play_through()] == ["info_unavailable", "info_after"]
    call.send(CallerHungUp())
    assert call.s.outcome is Outcome.ABANDONED_IN_IVR


def test_given_spanish_when_sr_status_confirmed_then_lookup_and_status_in_spanish():
    call = FakeCall()
    call.to_main_menu("2")
    call.press("4")
    assert call.play_through() == [("sr_enter", "es")]
    call.press(SR + "#")
    assert call.play_through() == [
        ("sr_you_entered", "es"),
        *said(say_digits(SR, "es"), "es"),
        ("sr_confirm_options", "es"),
    ]
    cmds = call.press("1")
    assert SrLookup(SR) in cmds
    assert call.s.state is State.LOOKING_UP
    cmds = call.send(SrLookupResult(SR, "found", status="in_progress", updated="2025-06-30"))
    assert cmds == []  # "please wait" plays to its end, then the answer
    assert call.play_through() == [
        ("sr_please_wait", "es"),
        ("sr_status_is", "es"),
        ("sr_status_in_progress", "es"),
        ("sr_updated_on", "es"),
        *said(say_date(dt.date(2025, 6, 30), "es"), "es"),
        ("sr_result_options", "es"),
    ]
    call.send(CallerHungUp())
    assert call.s.outcome is Outcome.SR_LOOKUP
    assert call.s.record()["sr_lookups"][0]["result"] == "found"


def test_given_sr_entry_when_2_pressed_at_confirmation_then_enter_again():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("2")
    assert call.play_through() == [("sr_enter", "en")]


def test_given_invalid_sr_number_then_retry_prompt():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press("311000004272#")  # wrong check digit
    assert call.play_through() == [("sr_invalid", "en"), ("sr_enter", "en")]


def test_given_sr_entry_when_caller_pauses_then_the_digits_are_taken():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR)
    call.wait(FLOW.settings.entry_timeout)
    assert call.playing.prompt_id == "sr_you_entered"


@pytest.mark.parametrize(
    ("result", "prompt"), [("not_found", "sr_not_found"), ("unavailable", "sr_unavailable")]
)
def test_given_lookup_fails_then_message_and_offer_of_a_representative(result, prompt):
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    call.send(SrLookupResult(SR, result))
    heard = [p for p, _ in call.play_through()]
    assert heard == ["sr_please_wait", prompt, "offer_representative"]
    cmds = call.press("0")
    call.play_through()
    assert Enqueue("en", "sr_status") in call.sent
    assert cmds[0] == Play(cmds[0].playback_id, "transfer_representative", "en")
    assert call.s.outcome is Outcome.QUEUED


def test_given_crm_silent_when_lookup_times_out_then_unavailable():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    call.play_through()  # "please wait" ends; still waiting
    assert call.s.state is State.LOOKING_UP
    call.wait(FLOW.settings.lookup_timeout)
    assert call.playing.prompt_id == "sr_unavailable"
    call.send(SrLookupResult(SR, "found", status="open"))  # too late: ignored
    assert call.playing.prompt_id == "sr_unavailable"


def test_given_sr_confirmed_then_please_wait_starts_before_the_lookup_is_asked_for():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    cmds = call.press("1")
    assert [type(c) for c in cmds] == [Play, SrLookup]
    assert isinstance(cmds[0], Play)
    assert cmds[0].prompt_id == "sr_please_wait"


def test_given_a_result_after_please_wait_ended_then_it_is_played_at_once():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    assert call.play_through() == [("sr_please_wait", "en")]
    cmds = call.send(SrLookupResult(SR, "not_found"))
    assert [c.prompt_id for c in cmds if isinstance(c, Play)] == ["sr_not_found"]


def test_given_please_wait_never_reports_its_end_then_a_result_kept_meanwhile_is_played_at_the_lookup_timeout():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    call.send(SrLookupResult(SR, "found", status="open"))
    saved = CallSession.from_dict(call.s.to_dict(), flow=FLOW)  # the kept result survives
    call.s = saved
    cmds = call.wait(FLOW.settings.lookup_timeout)
    assert [c.prompt_id for c in cmds if isinstance(c, Play)] == ["sr_status_is"]
    assert call.s.record()["sr_lookups"][0]["result"] == "found"


def test_given_haitian_creole_when_0_then_queued_with_ht():
    call = FakeCall()
    call.to_main_menu("7")
    call.press("0")
    call.play_through()
    assert call.sent[-1] == Enqueue(language="ht", topic="general", priority=0)
    assert call.s.finished
    assert call.s.outcome is Outcome.QUEUED
    assert Hangup not in {type(c) for c in call.sent}
    assert call.s.record()["queue"]["language"] == "ht"
    assert call.s.record()["exit"] == "representative-requested"


def test_given_parking_info_when_0_then_topic_is_parking():
    call = FakeCall()
    call.to_main_menu()
    call.press("1")
    call.press("0")  # barge-in during the content
    call.play_through()
    assert call.sent[-1] == Enqueue(language="en", topic="parking", priority=0)


def test_given_referral_then_transfer_to_agency_and_referred():
    call = FakeCall()
    call.to_main_menu()
    call.press("5")
    call.play_through()
    call.press("1")
    assert call.play_through() == [("transferring", "en")]
    assert call.sent[-1] == Transfer(endpoint="PJSIP/dof@referral", agency="DOF")
    assert call.s.outcome is Outcome.REFERRED
    assert call.s.record()["referral"]["agency"] == "DOF"


def test_given_prompt_playing_when_digit_then_barge_in_stops_it():
    call = FakeCall()
    call.to_main_menu()
    call.press("3")
    playing = call.playing
    assert playing.prompt_id == "closures_menu"
    cmds = call.press("2")
    assert cmds[0] == StopPlayback(playing.playback_id)
    assert cmds[1].prompt_id == "offices_closed"
    call.send(PlaybackFinished(playing.playback_id))  # the stopped one reports: ignored
    assert call.playing.prompt_id == "offices_closed"


def test_given_greeting_when_digit_then_not_interrupted():
    call = FakeCall()
    call.answer()
    assert call.press("5") == []
    assert call.s.record()["digits"][0]["ignored"] is True


def test_given_menu_when_star_then_repeat_and_9_back():
    call = FakeCall()
    call.to_main_menu()
    call.press("3")
    call.play_through()
    call.press("*")
    assert call.play_through() == [("closures_menu", "en")]
    call.press("9")
    assert call.play_through() == [("main_menu", "en")]
    call.press("9")  # back from the main menu: the language menu again
    assert call.play_through() == LANGUAGE_MENU


def test_given_invalid_digit_then_not_a_valid_choice_and_menu_again():
    call = FakeCall()
    call.to_main_menu()
    call.press("8")
    assert call.play_through() == [("invalid_choice", "en"), ("main_menu", "en")]


@pytest.mark.parametrize("keys", ["8#*", "9AD", "8B#"])
def test_given_the_language_menu_when_keys_it_does_not_offer_then_invalid_and_after_three_a_representative(
    keys,
):
    call = FakeCall()
    call.answer()
    call.play_through()
    for key in keys[:-1]:
        call.press(key)
        heard = call.play_through()
        assert heard[0] == ("invalid_choice", "en")
        assert heard[1:] == LANGUAGE_MENU
    call.press(keys[-1])
    call.play_through()

    assert call.sent[-1] == Enqueue(language="en", topic="general", priority=0)
    rec = call.s.record()
    assert rec["exit"] == "max-attempts"
    assert [d["digit"] for d in rec["digits"]] == list(keys)


def test_given_repeated_silence_then_representative_after_max_attempts():
    call = FakeCall()
    call.to_main_menu("6")
    for _ in range(FLOW.settings.max_attempts - 1):
        call.wait(FLOW.settings.digit_timeout)
        assert call.play_through() == [("no_input", "ko"), ("main_menu", "ko")]
    call.wait(FLOW.settings.digit_timeout)
    call.play_through()
    assert call.sent[-1] == Enqueue(language="ko", topic="general", priority=0)
    assert call.s.record()["exit"] == "max-attempts"


def test_given_goodbye_configured_when_attempts_exhausted_then_polite_hangup():
    text = """
flow: t
version: 1
start: menu
settings: {on_exhausted: bye, max_attempts: 2}
nodes:
  menu: {kind: menu, topic: general, prompts: [main_menu], options: {"1": bye}}
  bye: {kind: hangup, prompts: [goodbye]}
  representative: {kind: queue}
"""
    call = FakeCall(flow=load_flow(text))
    call.answer()
    call.play_through()
    call.press("7")
    call.play_through()
    call.press("7")
    assert call.play_through() == [("goodbye", "en")]
    assert call.sent[-1] == Hangup()
    assert call.s.outcome is Outcome.COMPLETED


def test_given_caller_navigates_forever_then_max_call_time_ends_it():
    call = FakeCall()
    call.to_main_menu()
    while call.now < FLOW.settings.max_call + 5 and not call.s.finished:
        call.press("*")
        call.send(DtmfReceived("*"), dt=3.0)
    call.play_through()
    assert call.s.outcome is Outcome.QUEUED
    assert call.s.record()["exit"] == "max-call-time"


def test_given_stop_playback_failed_then_call_goes_on():
    call = FakeCall()
    call.to_main_menu()
    call.send(CommandFailed("StopPlayback", "404 playback not found"))
    assert not call.s.finished
    call.send(CommandFailed("Play", "500"))
    assert call.s.outcome is Outcome.FAILED


def test_given_hangup_in_greeting_then_abandoned_and_later_abandoned_in_ivr():
    early = FakeCall()
    early.answer()
    early.send(CallerHungUp())
    assert early.s.outcome is Outcome.ABANDONED
    late = FakeCall()
    late.to_main_menu()
    late.send(CallerHungUp())
    assert late.s.outcome is Outcome.ABANDONED_IN_IVR


def test_given_call_mid_sr_entry_when_saved_and_restored_then_it_resumes():
    call = FakeCall()
    call.to_main_menu("3")
    call.press("4")
    call.play_through()
    call.press(SR[:5])
    data = json.loads(json.dumps(call.s.to_dict()))
    restored = CallSession.from_dict(data, flow=FLOW)
    call.s = restored
    call.press(SR[5:] + "#")
    assert call.play_through()[1:13] == said(say_digits(SR, "cmn"), "cmn")
    assert restored.record() == call.s.record()


def test_given_other_flow_when_restoring_then_refused():
    call = FakeCall()
    call.to_main_menu()
    with pytest.raises(SessionRestoreError, match="another flow"):
        CallSession.from_dict(call.s.to_dict())


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language"):
        CallSession("c", "311", 0.0, language="fr")


def test_given_content_with_bad_dynamic_value_then_it_is_skipped():
    call = FakeCall(info={"asp_today": ["asp_in_effect", "say:date:not-a-date", "say:number:7"]})
    call.to_main_menu()
    call.press("1")
    heard = [p for p, _ in call.play_through()]
    assert heard == ["asp_in_effect", "numbers/7", "info_after"]


def test_given_an_alert_recording_is_missing_then_it_is_skipped():
    call = FakeCall(alerts=["alert_missing", "alert_ok"])
    call.answer()
    call.finish()  # greeting
    missing = call.playing
    call.playing = None
    call.send(PlaybackFinished(missing.playback_id, failed=True))
    assert call.playing.prompt_id == "alert_ok"
    call.play_through()
    assert not call.s.finished
    first = call.s.record()["alerts"][0]
    assert first["prompt_id"] == "alert_missing"
    assert first["failed"] is True


def _at_sr_confirmation(call: FakeCall) -> None:
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press(SR + "#")  # "You entered 3 1 1 ... If this is correct, press 1" begins
    assert call.playing.prompt_id == "sr_you_entered"


def test_given_sr_read_back_starting_when_1_typed_ahead_then_not_a_confirmation():
    call = FakeCall()
    _at_sr_confirmation(call)
    cmds = call.press("1")
    assert not any(isinstance(c, SrLookup) for c in cmds)
    assert not any(isinstance(c, StopPlayback) for c in cmds)  # the read-back goes on
    assert call.s.record()["digits"][-1] == {
        "digit": "1",
        "node": "sr_status",
        "at": call.now,
        "ignored": True,
    }
    call.play_through()  # the caller hears the number, then presses 1: now it confirms
    assert SrLookup(SR) in call.press("1")


def test_given_sr_read_back_part_heard_when_any_key_then_ignored_until_every_digit_is_heard():
    call = FakeCall()
    _at_sr_confirmation(call)
    p = call.playing
    for _ in range(len(SR)):  # "You entered" and the digits but the last have begun
        call.send(PlaybackContinuing(p.playback_id), dt=0.5)
        for key in "12*0":
            cmds = call.press(key)
            assert not any(isinstance(c, SrLookup | StopPlayback | Play) for c in cmds)
    assert call.s.state is State.PLAYING
    call.send(PlaybackContinuing(p.playback_id), dt=0.5)  # "If this is correct, press 1"
    cmds = call.press("1")
    assert StopPlayback(p.playback_id) in cmds
    assert SrLookup(SR) in cmds


def test_given_sr_read_back_after_an_invalid_key_then_it_is_again_not_interruptible():
    call = FakeCall()
    _at_sr_confirmation(call)
    call.play_through()
    call.press("5")  # not a choice: "not a valid choice", then the read-back again
    assert call.playing.prompt_id == "invalid_choice"
    cmds = call.press("1")
    assert not any(isinstance(c, SrLookup) for c in cmds)
    call.play_through()
    assert SrLookup(SR) in call.press("1")


def test_given_sr_read_back_interrupted_by_a_restart_then_1_confirms_only_once_it_is_heard():
    call = FakeCall()
    _at_sr_confirmation(call)
    for _ in range(3):  # "You entered 3 1" heard
        call.send(PlaybackContinuing(call.playing.playback_id), dt=0.5)
    call.s = CallSession.from_dict(call.s.to_dict(), flow=FLOW)
    call.send(Resumed())  # the rest of the read-back again, from the digit interrupted
    assert call.playing.prompt_id != "sr_confirm_options"
    assert not any(isinstance(c, SrLookup) for c in call.press("1"))
    call.play_through()
    assert SrLookup(SR) in call.press("1")


def test_given_part_of_an_sr_number_when_a_letter_key_then_the_entry_starts_again():
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    call.press("3110")
    call.press("A")  # not a digit: "not a valid choice", then the entry prompt again
    assert [p for p, _ in call.play_through()] == ["invalid_choice", "sr_enter"]
    call.press(SR + "#")
    assert call.playing.prompt_id == "sr_you_entered"  # not "sr_invalid" for "3110" + SR
    call.play_through()
    assert SrLookup(SR) in call.press("1")


def test_given_keys_while_answering_looking_up_and_ending_then_recorded_as_ignored():
    call = FakeCall()
    call.press("5")  # not answered yet
    call.answer()
    call.play_through()
    call.press("1")
    call.play_through()
    call.press("4")
    call.play_through()
    call.press(SR + "#")
    call.play_through()
    call.press("1")
    call.press("7")  # looking up
    call.send(SrLookupResult(SR, "not_found"))
    call.play_through()
    call.press("0")
    call.press("8")  # "transferring you to a representative"
    ignored = [(d["digit"], d["node"]) for d in call.s.record()["digits"] if d.get("ignored")]
    assert ignored == [("5", "greeting"), ("7", "sr_status"), ("8", "representative")]


def test_given_a_key_held_down_then_the_record_keeps_the_latest_keys_and_counts_the_rest():
    call = FakeCall()
    call.answer()  # the greeting is not interruptible: each key is recorded as ignored
    for _ in range(8_000):
        call.send(DtmfReceived("5"), dt=0.001)
    record = call.s.record()
    assert len(record["digits"]) == MAX_RECORD_ENTRIES
    assert record["digits_dropped"] == 8_000 - MAX_RECORD_ENTRIES
    assert record["digits"][-1]["at"] == call.now
    assert len(json.dumps(call.s.to_dict())) < 30_000
    restored = CallSession.from_dict(call.s.to_dict(), flow=FLOW)
    restored.receive(DtmfReceived("5"), call.now + 0.001)
    assert restored.record()["digits_dropped"] == 8_001 - MAX_RECORD_ENTRIES


def _look_up(call: FakeCall, sr: str, result: str = "found") -> None:
    call.press("4")
    call.play_through()
    call.press(sr + "#")
    call.play_through()
    assert SrLookup(sr) in call.press("1")
    call.send(SrLookupResult(sr, result, status="open"))
    call.play_through()
    call.press("9")  # back to the main menu
    call.play_through()


def test_given_max_sr_lookups_made_when_sr_status_again_then_unavailable_and_a_representative():
    call = FakeCall()
    call.to_main_menu()
    assert FLOW.settings.max_sr_lookups == 3
    _look_up(call, make_sr_number(1))
    _look_up(call, make_sr_number(2), "not_found")
    _look_up(call, make_sr_number(3), "unavailable")
    call.press("4")
    assert [p for p, _ in call.play_through()] == ["sr_unavailable", "offer_representative"]
    cmds = call.press("1")  # no entry, no confirmation: not a valid choice
    assert not any(isinstance(c, SrLookup) for c in cmds)
    assert call.playing.prompt_id == "invalid_choice"
    assert len(call.s.record()["sr_lookups"]) == 3
    call.press("0")
    call.play_through()
    assert Enqueue("en", "sr_status") in call.sent
