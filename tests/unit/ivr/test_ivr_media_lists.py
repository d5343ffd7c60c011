"""Prompts in a row play as one media list: one ``Play`` (one ARI request, one
``PlaybackFinished``) per run of plain prompts; a pushed alert plays alone; an ``info:`` prompt
ends its list (the call counts as self-served when the list has played)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.commands import Play, StopPlayback
from line311.call.events import CallerHungUp, PlaybackContinuing, PlaybackFinished, Resumed
from line311.call.record import Outcome
from line311.call.srnumber import make_sr_number
from line311.ivr.session import CallSession, State
from line311.ivr.steps import MAX_MEDIA_LIST
from tests.unit.ivr.ivr_driver import FLOW, FakeCall, prompts_of
from tests.unit.ivr.test_ivr_alerts import alert

SR = make_sr_number(427)
LANGUAGES = ["en", "es", "cmn", "yue", "ru", "ko", "ht"]


def plays(call: FakeCall) -> list[Play]:
    return [c for c in call.sent if isinstance(c, Play)]


def at_language_menu() -> tuple[FakeCall, Play]:
    """A call whose greeting has played: the language menu's list is playing."""
    call = FakeCall()
    call.answer()
    call.finish()  # the greeting
    menu = call.playing
    assert menu is not None
    return call, menu


def test_given_a_call_then_the_language_menu_is_one_playback_of_eight_prompts() -> None:
    call, menu = at_language_menu()
    assert prompts_of(menu) == [("language_option", lang) for lang in LANGUAGES] + [
        ("language_other", "en")
    ]
    assert len(plays(call)) == 2
    call.finish()  # one PlaybackFinished for the whole list
    assert call.playing is None
    assert call.s.state is State.COLLECTING


def test_given_a_list_playing_then_its_record_names_each_prompt_when_it_begins() -> None:
    call, menu = at_language_menu()
    started = call.now
    assert [p["language"] for p in call.s.record()["prompts"][1:]] == ["en"]
    call.send(PlaybackContinuing(menu.playback_id), dt=1.5)
    call.send(PlaybackContinuing(menu.playback_id), dt=1.5)
    heard = call.s.record()["prompts"][1:]
    assert [(p["language"], p["at"]) for p in heard] == [
        ("en", started),
        ("es", started + 1.5),
        ("cmn", started + 3.0),
    ]
    call.press("2")  # cut short: the four not begun are not in the record
    after = [(p["prompt_id"], p["language"]) for p in call.s.record()["prompts"][4:]]
    assert after[0] == ("main_menu", "es")
    assert ("language_option", "yue") not in after


def test_given_a_stale_or_extra_continuing_then_nothing_is_recorded() -> None:
    call = FakeCall()
    call.answer()
    greeting = call.s.record()["prompts"][:]
    call.send(PlaybackContinuing("another-playback"))
    call.send(PlaybackContinuing(call.playing.playback_id))  # the greeting is a list of one
    assert call.s.record()["prompts"] == greeting
    assert not call.s.finished


def test_given_pushed_alerts_then_each_plays_alone_and_the_prompts_around_them_in_lists() -> None:
    call = FakeCall(alerts=[alert("snow"), alert("parking")])
    call.answer()
    call.play_through()
    firsts = [(p.prompt_id, len(p.then)) for p in plays(call)]
    assert firsts == [
        ("greeting", 0),
        ("alerts/snow", 0),
        ("alerts/parking", 0),
        ("language_option", 7),  # the seven languages and "all other languages"
    ]


def test_given_an_alert_playing_then_a_key_is_ignored_and_a_missing_one_is_skipped_alone() -> None:
    call = FakeCall(alerts=[alert("missing"), alert("ok")])
    call.answer()
    call.finish()  # greeting
    missing = call.playing
    assert missing is not None
    assert not missing.then
    call.playing = None
    call.send(PlaybackFinished(missing.playback_id, failed=True))
    assert call.playing is not None
    assert call.playing.prompt_id == "alerts/ok"
    assert not call.s.finished


def test_given_information_then_its_prompts_are_one_list_and_the_call_is_self_served_at_its_end() -> (
    None
):
    call = FakeCall()
    call.to_main_menu()
    call.press("1")  # parking: "alternate side parking is suspended" + the date, then "after"
    info = call.playing
    assert info is not None
    assert len(prompts_of(info)) > 1
    assert call.s.record()["self_service"] == []
    call.finish()
    assert call.s.record()["self_service"], "the info list has played: self-served"
    call.send(CallerHungUp())
    assert call.s.record()["outcome"] == Outcome.SELF_SERVED.value


def test_given_a_key_during_a_list_then_the_whole_list_stops() -> None:
    call, menu = at_language_menu()
    cmds = call.press("2")
    assert StopPlayback(menu.playback_id) in cmds
    assert call.s.language == "es"


def test_given_a_list_playing_when_resumed_then_the_interrupted_prompt_and_the_rest_play() -> None:
    call, menu = at_language_menu()
    call.send(PlaybackContinuing(menu.playback_id))
    call.send(PlaybackContinuing(menu.playback_id))  # the third prompt plays
    call.s = CallSession.from_dict(json.loads(json.dumps(call.s.to_dict())), flow=FLOW)
    cmds = call.send(Resumed())
    assert cmds[0] == StopPlayback(menu.playback_id)
    again = cmds[1]
    assert isinstance(again, Play)
    assert again.playback_id != menu.playback_id
    assert prompts_of(again) == prompts_of(menu)[2:]


def test_given_a_session_saved_with_one_current_item_then_it_resumes_with_that_prompt() -> None:
    """A session saved by a version that played one prompt per playback."""
    call = FakeCall()
    call.answer()
    call.finish()
    data = json.loads(json.dumps(call.s.to_dict()))
    del data["current_items"]
    data["current_item"] = ["language_option", "es", ""]
    call.s = CallSession.from_dict(data, flow=FLOW)
    cmds = call.send(Resumed())
    again = cmds[1]
    assert isinstance(again, Play)
    assert prompts_of(again) == [("language_option", "es")]


def test_given_an_sr_number_read_back_then_its_digits_play_in_one_list() -> None:
    call = FakeCall()
    call.to_main_menu()
    call.press("4")
    call.play_through()
    before = len(plays(call))
    call.press(SR + "#")
    readback = call.playing
    assert readback is not None
    heard = [p for p, _ in prompts_of(readback)]
    assert sum(p.startswith("digits/") for p in heard) == len(SR)
    assert len(plays(call)) == before + 1


@settings(max_examples=100, deadline=None)
@given(
    tags=st.lists(
        st.sampled_from(["", "", "", "alert:a", "info:x"]), min_size=1, max_size=3 * MAX_MEDIA_LIST
    )
)
def test_any_playlist_plays_every_item_once_in_order_in_lists_that_keep_alerts_alone(
    tags: list[str],
) -> None:
    call = FakeCall(alerts=["a"])  # alert "a" is live: its items play
    call.answer()
    items = [(f"p{i}", "en", tag) for i, tag in enumerate(tags)]
    call.s._play_list(items, call.now, State.PLAYING)
    call.pump()
    lists: list[list[tuple[str, str]]] = []
    for _ in range(len(items) + 1):
        if call.playing is None or not call.playing.prompt_id.startswith("p"):
            break
        lists.append(prompts_of(call.playing))
        call.finish()
    assert [p for lst in lists for p in lst] == [(p, lang) for p, lang, _ in items]
    by_id = {p: tag for p, _, tag in items}
    for lst in lists:
        assert 1 <= len(lst) <= MAX_MEDIA_LIST
        inner = [by_id[p] for p, _ in lst]
        assert all(not t for t in inner[:-1]), inner  # tagged items end a list
        if any(t.startswith("alert:") for t in inner):
            assert len(lst) == 1, inner  # an alert alone
