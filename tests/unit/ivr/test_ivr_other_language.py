"""0 at the language menu, "for all other languages": a caller of none of the seven languages
reaches a CCR with the interpreter line (the pure call flow; routing is in tests/unit/routing)."""

from __future__ import annotations

import pytest

from line311.call.commands import Enqueue, Hangup, Play
from line311.call.values import OTHER_LANGUAGE
from line311.ivr.alerts import PushedAlert
from line311.ivr.flow import LANGUAGES, default_flow_path, load_flow, mermaid
from line311.ivr.session import CallSession, Outcome, State
from tests.unit.ivr.ivr_driver import FLOW, FakeCall

MENU = [("language_option", lang) for lang in LANGUAGES] + [("language_other", "en")]

OWN_KEY = """
flow: t
version: 1
start: language
nodes:
  language:
    kind: language
    prompt: language_option
    options: {"1": en, "2": es}
    other: {key: "#", prompt: language_other, next: interpreter}
    next: main
  main: {kind: menu, topic: general, prompts: [main_menu], options: {"1": main}}
  interpreter: {kind: queue, topic: housing, prompts: [transfer_interpreter]}
  representative: {kind: queue, prompts: [transfer_representative]}
"""


def at_language_menu(**kwargs: object) -> FakeCall:
    call = FakeCall(**kwargs)
    call.answer()
    call.finish()  # the greeting; the language menu's list is playing now
    return call


def test_given_the_shipped_flow_then_the_language_menu_ends_with_all_other_languages_in_english():
    call = at_language_menu()
    assert call.play_through() == MENU
    assert call.s.state is State.COLLECTING


@pytest.mark.parametrize("barge_in", [True, False])
def test_given_the_language_menu_when_0_then_queued_for_an_interpreter_in_english(barge_in):
    call = at_language_menu()
    if not barge_in:
        call.play_through()
    call.press("0")
    assert call.play_through() == [("transfer_interpreter", "en")]

    assert call.sent[-1] == Enqueue(language=OTHER_LANGUAGE, topic="general", priority=0)
    assert call.s.finished
    assert call.s.outcome is Outcome.QUEUED
    assert Hangup not in {type(c) for c in call.sent}
    assert call.s.language == "en"  # what the IVR speaks to them
    rec = call.s.record()
    assert rec["language"] == OTHER_LANGUAGE  # what they speak: none of the seven
    assert rec["language_selected_by"] == "dtmf"
    assert rec["exit"] == "other-language"
    assert rec["queue"]["language"] == OTHER_LANGUAGE
    assert [n["node"] for n in rec["nodes"]][-2:] == ["language", "interpreter"]


def test_given_0_chosen_when_the_session_is_saved_and_restored_then_it_still_queues_as_other():
    call = at_language_menu()
    call.press("0")
    assert call.playing is not None
    assert call.playing.prompt_id == "transfer_interpreter"
    restored = CallSession.from_dict(call.s.to_dict(), flow=FLOW)
    call.s = restored
    call.play_through()
    assert call.sent[-1] == Enqueue(language=OTHER_LANGUAGE, topic="general", priority=0)


def test_given_an_alert_for_english_callers_when_0_then_it_is_not_played():
    """The caller chose no language: the alerts for one language's callers are not theirs;
    they go straight to the hold prompt and the queue."""
    english = PushedAlert("snow", prompt_id="alert_snow", languages=frozenset({"en"}))
    call = at_language_menu(alerts=[english])
    call.press("0")
    assert call.play_through() == [("transfer_interpreter", "en")]
    assert call.s.record()["alerts"] == []


@pytest.mark.parametrize(("key", "language"), list(zip("1234567", LANGUAGES, strict=True)))
def test_given_the_language_menu_when_1_to_7_then_they_keep_their_languages(key, language):
    call = at_language_menu()
    call.press(key)
    assert call.playing == Play(call.playing.playback_id, "main_menu", language)
    assert call.s.record()["language"] == language


def test_given_a_flow_without_other_when_0_at_the_language_menu_then_an_invalid_choice():
    call = FakeCall(flow=load_flow(FLOW_TEXT_WITHOUT_OTHER))
    call.answer()
    call.play_through()  # greeting, alerts, language menu
    call.press("0")
    heard = call.play_through()
    assert heard == [("invalid_choice", "en")] + [("language_option", lang) for lang in LANGUAGES]
    assert call.s.record()["language_selected_by"] is None


def test_given_a_flow_with_its_own_key_and_queue_then_that_key_leads_there():
    call = FakeCall(flow=load_flow(OWN_KEY))
    call.answer()
    assert call.play_through() == [
        ("language_option", "en"),
        ("language_option", "es"),
        ("language_other", "en"),
    ]
    call.press("0")  # not this flow's key: invalid, as before
    assert call.play_through()[0] == ("invalid_choice", "en")
    call.press("#")
    call.play_through()
    assert call.sent[-1] == Enqueue(language=OTHER_LANGUAGE, topic="housing", priority=0)


def test_given_the_shipped_flow_then_its_diagram_shows_where_0_goes():
    assert '    language -->|"0=other"| interpreter' in mermaid(FLOW).splitlines()


def _without_other() -> str:
    """The shipped flow with the language node's ``other`` and its queue node taken out."""
    text = default_flow_path().read_text(encoding="utf-8")
    start = text.index("    other:")
    text = text[:start] + text[text.index("    next: main", start) :]
    start = text.index("  interpreter:")
    return text[:start] + text[text.index("\n\n", start) + 2 :]


FLOW_TEXT_WITHOUT_OTHER = _without_other()
