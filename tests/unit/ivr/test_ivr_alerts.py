"""Targeted pushed alerts in the call flow: after the greeting, after the language choice, on
entering a node; each once per call, only while live (fake clock, shipped flow)."""

from __future__ import annotations

from line311.call.commands import Play, StopPlayback
from line311.call.events import AlertsChanged, PlaybackFinished
from line311.ivr.alerts import Moment, PushedAlert, as_pushed, due, shift_clock
from line311.ivr.flow import load_flow
from line311.ivr.session import CallSession, State
from tests.unit.ivr.ivr_driver import FakeCall

ALL = ("en", "es", "cmn", "yue", "ru", "ko", "ht")


def alert(
    alert_id: str,
    *,
    languages: tuple[str, ...] = (),
    node: str | None = None,
    audio: tuple[str, ...] = ("en",),
    until: float | None = None,
) -> PushedAlert:
    """An alert with its own audio in ``audio`` languages (others get English, as the
    messaging side publishes it)."""
    prompt = f"alerts/{alert_id}"
    targets = languages or ALL
    entries = tuple(
        (lang, prompt, lang if lang in audio else "en")
        for lang in targets
        if lang in audio or "en" in audio
    )
    return PushedAlert(
        alert_id=alert_id,
        prompt_id=prompt,
        languages=frozenset(languages),
        node=node,
        audio=entries,
        until=until,
    )


def alerts_heard(call: FakeCall) -> list[tuple[str, str]]:
    """(prompt, language) of the alert prompts played so far."""
    return [
        (c.prompt_id, c.language)
        for c in call.sent
        if isinstance(c, Play) and c.prompt_id.startswith("alerts/")
    ]


def prompts(call: FakeCall) -> list[str]:
    return [c.prompt_id for c in call.sent if isinstance(c, Play)]


def to_closures(call: FakeCall, language_key: str) -> None:
    call.to_main_menu(language_key)
    call.press("3")
    call.play_through()


# ---------------------------------------------------------------------- language
def test_given_a_spanish_alert_when_the_caller_picks_spanish_then_it_plays_in_spanish_right_after_the_choice() -> (
    None
):
    call = FakeCall(alerts=[alert("cortes", languages=("es",), audio=("es",))])
    call.answer()
    call.play_through()  # greeting, language menu: no alert before the choice
    assert alerts_heard(call) == []

    call.press("2")
    heard = call.play_through()

    assert heard[:2] == [("alerts/cortes", "es"), ("main_menu", "es")]
    assert call.s.state is State.COLLECTING
    rec = call.s.record()
    assert [(a["alert_id"], a["language"], a["node"]) for a in rec["alerts"]] == [
        ("cortes", "es", "main")
    ]


def test_given_a_spanish_alert_when_the_caller_picks_english_then_they_never_hear_it() -> None:
    call = FakeCall(alerts=[alert("cortes", languages=("es",), audio=("es",))])
    to_closures(call, "1")

    assert alerts_heard(call) == []
    assert call.s.record()["alerts"] == []


def test_given_an_english_alert_when_the_language_menu_times_out_then_it_plays_after_the_default_choice() -> (
    None
):
    call = FakeCall(alerts=[alert("heat", languages=("en",))])
    call.answer()
    call.play_through()
    assert alerts_heard(call) == []

    call.wait(10)  # language timeout: English
    call.play_through()

    assert alerts_heard(call) == [("alerts/heat", "en")]
    assert call.s.record()["language_selected_by"] == "timeout"


def test_given_a_language_alert_without_its_own_audio_then_the_english_audio_plays() -> None:
    call = FakeCall(alerts=[alert("storm", languages=("ko",), audio=("en",))])
    call.to_main_menu("6")

    assert alerts_heard(call) == [("alerts/storm", "en")]


def test_given_a_flow_where_the_language_is_chosen_before_the_alerts_node_then_language_alerts_play_there_once() -> (
    None
):
    flow = load_flow(
        """\
flow: lang-first
version: 1
start: language
nodes:
  language: {kind: language, prompt: language_option, options: {"1": en, "2": es}, next: alerts}
  alerts: {kind: alerts, next: end}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""
    )
    call = FakeCall(flow=flow, alerts=[alert("a", languages=("es",), audio=("es",)), "plain"])
    call.answer()
    call.play_through()
    call.press("2")
    call.play_through()

    assert [p for p in prompts(call) if p in ("alerts/a", "plain")] == ["alerts/a", "plain"]


# ---------------------------------------------------------------------- node
def test_given_a_node_alert_when_the_caller_enters_the_node_then_it_plays_before_the_node_prompts() -> (
    None
):
    call = FakeCall(alerts=[alert("schools", node="closures")])
    call.to_main_menu("1")
    assert alerts_heard(call) == []

    call.press("3")
    heard = call.play_through()

    assert heard[:2] == [("alerts/schools", "en"), ("closures_menu", "en")]
    assert [a["node"] for a in call.s.record()["alerts"]] == ["closures"]


def test_given_a_node_alert_whose_node_left_the_flow_then_it_plays_right_after_the_greeting() -> (
    None
):
    # the flow was reloaded without the node after the alert was approved: it is played
    # where an alert without a node plays, not never
    call = FakeCall(alerts=[alert("schools", node="school_closures_gone")])
    call.answer()
    heard = call.play_through()

    assert ("alerts/schools", "en") in heard
    assert heard.index(("alerts/schools", "en")) < heard.index(("language_option", "en"))
    assert [(a["alert_id"], a["node"]) for a in call.s.record()["alerts"]] == [
        ("schools", "alerts")
    ]
    call.press("1")
    call.play_through()
    call.press("3")
    call.play_through()
    assert alerts_heard(call) == [("alerts/schools", "en")]  # once


def test_given_a_language_alert_whose_node_left_the_flow_then_it_plays_after_the_language_choice() -> (
    None
):
    call = FakeCall(alerts=[alert("cierres", node="gone", languages=("es",), audio=("es",))])
    call.answer()
    call.play_through()
    assert alerts_heard(call) == []

    call.press("2")
    heard = call.play_through()

    assert heard[:2] == [("alerts/cierres", "es"), ("main_menu", "es")]


def test_given_a_node_alert_when_the_caller_goes_back_and_enters_the_node_again_then_it_is_not_repeated() -> (
    None
):
    call = FakeCall(alerts=[alert("schools", node="closures")])
    to_closures(call, "1")
    call.press("9")  # back to the main menu
    call.play_through()
    call.press("3")
    heard = call.play_through()

    assert heard[0] == ("closures_menu", "en")
    assert alerts_heard(call) == [("alerts/schools", "en")]
    assert len(call.s.record()["alerts"]) == 1


def test_given_a_node_alert_when_the_caller_repeats_the_menu_then_it_is_not_repeated() -> None:
    call = FakeCall(alerts=[alert("schools", node="closures")])
    to_closures(call, "1")
    call.press("*")
    call.play_through()

    assert alerts_heard(call) == [("alerts/schools", "en")]


def test_given_an_alert_for_a_node_and_a_language_then_only_callers_of_that_language_hear_it_there() -> (
    None
):
    both = alert("escuelas", languages=("es",), node="closures", audio=("es",))
    spanish = FakeCall(alerts=[both])
    spanish.to_main_menu("2")
    assert alerts_heard(spanish) == []  # not after the language choice: it has a node
    spanish.press("3")
    assert spanish.play_through()[:2] == [("alerts/escuelas", "es"), ("closures_menu", "es")]

    english = FakeCall(alerts=[both])
    to_closures(english, "1")
    assert alerts_heard(english) == []


def test_given_a_node_alert_on_a_terminal_node_then_it_plays_before_the_hand_off() -> None:
    call = FakeCall(alerts=[alert("wait", node="representative")])
    call.to_main_menu("1")
    call.press("0")
    call.play_through()

    assert alerts_heard(call) == [("alerts/wait", "en")]
    assert call.s.record()["queue"] is not None


def test_given_a_node_alert_when_a_key_is_pressed_during_it_then_the_alert_is_not_skipped() -> None:
    call = FakeCall(alerts=[alert("schools", node="closures")])
    call.to_main_menu("1")
    call.press("3")
    assert call.playing is not None
    assert call.playing.prompt_id == "alerts/schools"

    sent = call.press("1")

    assert not any(isinstance(c, StopPlayback) for c in sent)
    assert call.playing is not None
    assert call.playing.prompt_id == "alerts/schools"
    assert call.s.record()["digits"][-1]["ignored"] is True
    call.finish()
    assert call.playing is not None
    assert call.playing.prompt_id == "closures_menu"


# ---------------------------------------------------------------------- greeting
def test_given_alerts_of_every_kind_then_each_plays_at_its_own_moment_once() -> None:
    call = FakeCall(
        alerts=[
            alert("all", audio=("en", "es")),  # untargeted, per-language audio
            alert("es-only", languages=("es",), audio=("es",)),
            alert("node", node="closures"),
        ]
    )
    call.answer()
    after_greeting = call.play_through()
    assert ("alerts/all", "en") in after_greeting  # before the choice: default language
    call.press("2")
    call.play_through()
    call.press("3")
    call.play_through()

    assert alerts_heard(call) == [
        ("alerts/all", "en"),
        ("alerts/es-only", "es"),
        ("alerts/node", "en"),
    ]
    assert [a["alert_id"] for a in call.s.record()["alerts"]] == ["all", "es-only", "node"]


# ---------------------------------------------------------------------- liveness
def test_given_a_node_alert_that_expires_between_the_greeting_and_the_node_then_it_is_not_played() -> (
    None
):
    call = FakeCall(alerts=[alert("schools", node="closures", until=2.0)])
    call.to_main_menu("1")  # the fake clock is past 2 s by now
    assert call.now > 2.0
    call.press("3")
    call.play_through()

    assert alerts_heard(call) == []


def test_given_a_language_alert_that_expires_before_the_choice_then_it_is_not_played() -> None:
    call = FakeCall(alerts=[alert("cortes", languages=("es",), audio=("es",), until=1.0)])
    call.to_main_menu("2")

    assert alerts_heard(call) == []


def test_given_a_node_alert_withdrawn_between_the_greeting_and_the_node_then_it_is_not_played() -> (
    None
):
    call = FakeCall(alerts=[alert("schools", node="closures")])
    call.to_main_menu("1")
    call.send(AlertsChanged(()))  # withdrawn
    call.press("3")
    call.play_through()

    assert alerts_heard(call) == []


def test_given_two_alerts_after_the_greeting_when_the_second_is_withdrawn_while_the_first_plays_then_it_is_not_played() -> (
    None
):
    first, second = alert("blackout"), alert("marathon")
    call = FakeCall(alerts=[first, second])
    call.answer()
    call.finish()  # the greeting
    assert call.playing is not None
    assert call.playing.prompt_id == "alerts/blackout"
    call.send(AlertsChanged((first,)))  # a supervisor withdraws the marathon alert
    call.finish()  # the first alert plays to its end

    assert call.playing is not None
    assert call.playing.prompt_id == "language_option"
    assert alerts_heard(call) == [("alerts/blackout", "en")]
    assert [a["alert_id"] for a in call.s.record()["alerts"]] == ["blackout"]


def test_given_two_alerts_at_a_node_when_the_second_ends_while_the_first_plays_then_it_is_not_played() -> (
    None
):
    call = FakeCall(
        alerts=[alert("schools", node="closures"), alert("parks", node="closures", until=30.0)]
    )
    call.to_main_menu("1")
    call.press("3")
    assert call.playing is not None
    assert call.playing.prompt_id == "alerts/schools"
    call.now = 31.0  # the second alert's window ends while the first plays
    call.finish()

    assert call.playing is not None
    assert call.playing.prompt_id == "closures_menu"
    assert alerts_heard(call) == [("alerts/schools", "en")]


def test_given_a_node_alert_activated_during_the_call_then_it_plays_when_the_caller_gets_there() -> (
    None
):
    call = FakeCall()
    call.to_main_menu("1")
    call.send(AlertsChanged((alert("schools", node="closures"),)))
    call.press("3")
    call.play_through()

    assert alerts_heard(call) == [("alerts/schools", "en")]


def test_given_a_played_alert_when_the_list_is_sent_again_then_it_is_not_replayed() -> None:
    schools = alert("schools", node="closures")
    call = FakeCall(alerts=[schools])
    to_closures(call, "1")
    call.send(AlertsChanged((schools,)))
    call.press("9")
    call.play_through()
    call.press("3")
    call.play_through()

    assert alerts_heard(call) == [("alerts/schools", "en")]


def test_given_a_node_alert_whose_file_is_missing_then_it_is_skipped_and_the_node_goes_on() -> None:
    call = FakeCall(alerts=[alert("gone", node="closures")])
    call.to_main_menu("1")
    call.press("3")
    assert call.playing is not None
    failed = call.playing.playback_id
    call.playing = None
    call.send(PlaybackFinished(failed, failed=True))

    assert call.playing is not None
    assert call.playing.prompt_id == "closures_menu"
    assert call.s.record()["alerts"][0]["failed"] is True


# ---------------------------------------------------------------------- persistence
def test_given_a_call_resumed_after_an_alert_played_then_it_is_not_played_again() -> None:
    call = FakeCall(alerts=[alert("schools", node="closures", until=1e9), "plain"])
    to_closures(call, "1")
    call.press("9")
    call.play_through()

    resumed = CallSession.from_dict(call.s.to_dict(), flow=call.s.flow)
    assert resumed._alerts == call.s._alerts
    call.s = resumed
    call.press("3")
    heard = call.play_through()

    assert heard[0] == ("closures_menu", "en")


def test_given_a_session_saved_with_plain_alert_prompts_then_it_resumes() -> None:
    call = FakeCall(alerts=["plain"])
    data = call.s.to_dict()
    data["alerts"] = ["plain"]  # the format before targeting
    del data["alerts_played"]

    resumed = CallSession.from_dict(data, flow=call.s.flow)

    assert resumed._alerts == [PushedAlert(alert_id="plain", prompt_id="plain")]


# ---------------------------------------------------------------------- helpers
def test_due_leaves_out_alerts_with_no_audio_for_the_callers_language() -> None:
    korean_only = alert("k", languages=("ko",), audio=("ko",))

    assert due([korean_only], (), Moment.LANGUAGE, now=0, language="es") == []
    assert due([korean_only], (), Moment.LANGUAGE, now=0, language="ko") == [korean_only]
    assert due([korean_only], ("k",), Moment.LANGUAGE, now=0, language="ko") == []


def test_shift_clock_moves_only_alerts_that_end() -> None:
    ending, open_ended = alert("a", until=1000.0), as_pushed("b")

    assert shift_clock([ending, open_ended], -900.0) == [alert("a", until=100.0), open_ended]
    assert as_pushed(ending.to_dict()) == ending
