"""ARI JSON -> core events: every event type we use, and malformed input never raising."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.ari.translate import APP_EVENTS, NewCall, Translated, translate
from line311.call.events import (
    CallerHungUp,
    DtmfReceived,
    MoveFailed,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
)

CALLER = "2125550123"


def channel(cid: str = "1700000000.1", exten: str = "311", number: str = CALLER) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"PJSIP/carrier-{cid}",
        "state": "Ring",
        "caller": {"name": "", "number": number},
        "dialplan": {"context": "from-carrier", "exten": exten, "priority": 1},
        "creationtime": "2025-01-01T12:00:00.000+0000",
    }


def playback(kind: str, pid: str = "c1-p1", state: str = "playing", target: str = "channel:c1"):
    return {
        "type": kind,
        "playback": {"id": pid, "media_uri": "sound:x", "target_uri": target, "state": state},
    }


def test_given_stasis_start_with_inbound_args_then_new_call_with_dialed_number_from_args():
    result = translate(
        {"type": "StasisStart", "args": ["inbound", "2126399675"], "channel": channel(exten="s")}
    )
    assert result == NewCall(
        channel_id="1700000000.1",
        kind="inbound",
        dialed_number="2126399675",
        caller_number=CALLER,
        args=("2126399675",),
        channel_name="PJSIP/carrier-1700000000.1",
    )


def test_given_stasis_start_without_args_then_inbound_with_dialplan_exten():
    result = translate({"type": "StasisStart", "args": [], "channel": channel(exten="311")})
    assert isinstance(result, NewCall)
    assert (result.kind, result.dialed_number) == ("inbound", "311")


def test_given_stasis_start_of_outbound_channel_then_kind_outbound():
    result = translate(
        {"type": "StasisStart", "args": ["outbound", "agent1"], "channel": channel()}
    )
    assert isinstance(result, NewCall)
    assert result.kind == "outbound"


def test_new_call_repr_never_shows_the_caller_number():
    result = translate({"type": "StasisStart", "args": ["inbound", "311"], "channel": channel()})
    assert CALLER not in repr(result)


def test_given_anonymous_caller_then_caller_number_is_none():
    result = translate(
        {"type": "StasisStart", "args": ["inbound", "311"], "channel": channel(number="")}
    )
    assert isinstance(result, NewCall)
    assert result.caller_number is None


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_dtmf_digits_translate(digit: str):
    event = {
        "type": "ChannelDtmfReceived",
        "digit": digit,
        "duration_ms": 120,
        "channel": channel(),
    }
    assert translate(event) == Translated("1700000000.1", DtmfReceived(digit=digit))


def test_playback_started_goes_to_the_channel_in_target_uri():
    assert translate(playback("PlaybackStarted")) == Translated("c1", PlaybackStarted("c1-p1"))


def test_playback_continuing_goes_to_the_channel_and_is_asked_for() -> None:
    """Between the prompts of a media list: the IVR records which one plays."""
    event = playback("PlaybackContinuing", state="continuing")
    assert translate(event) == Translated("c1", PlaybackContinuing("c1-p1"))
    assert "PlaybackContinuing" in APP_EVENTS


@pytest.mark.parametrize(
    ("state", "failed"), [("done", False), ("failed", True), ("cancelled", False)]
)
def test_playback_finished_is_failed_only_when_state_failed(state: str, failed: bool):
    result = translate(playback("PlaybackFinished", state=state))
    assert result == Translated("c1", PlaybackFinished("c1-p1", failed=failed))


def test_playback_on_a_bridge_is_not_a_call_event():
    assert translate(playback("PlaybackFinished", target="bridge:b1")) is None


@pytest.mark.parametrize("kind", ["StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"])
def test_end_of_channel_events_are_caller_hung_up(kind: str):
    assert translate({"type": kind, "channel": channel()}) == Translated(
        "1700000000.1", CallerHungUp()
    )


def test_given_a_move_to_another_app_fails_then_move_failed_on_its_channel() -> None:
    event = {
        "type": "ApplicationMoveFailed",
        "application": "line311-w1",
        "destination": "line311",
        "args": ["handover"],
        "channel": channel(),
    }
    assert translate(event) == Translated("1700000000.1", MoveFailed())


def test_given_a_move_failed_without_a_channel_then_it_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="line311.ari.translate"):
        assert translate({"type": "ApplicationMoveFailed", "channel": None}) is None
    assert caplog.records


def test_the_app_events_include_the_ivr_workers_ones_and_a_call_broadcast_is_no_call_event() -> (
    None
):
    assert {"ApplicationMoveFailed", "CallBroadcast"} <= set(APP_EVENTS)
    assert len(APP_EVENTS) == len(set(APP_EVENTS))
    assert translate({"type": "CallBroadcast", "channel": channel()}) is None


def test_the_app_events_leave_out_playback_started_which_no_session_acts_on() -> None:
    """Asterisk is not asked for ``PlaybackStarted``: the IVR only ever ignores it (every
    transition it has is `_ignore`), and the sessions wait for ``PlaybackFinished``."""
    from line311.call.events import PlaybackStarted as Started
    from line311.ivr.transitions import TRANSITIONS, Transitions

    assert "PlaybackStarted" not in APP_EVENTS
    assert "PlaybackFinished" in APP_EVENTS
    handlers = {h for (_, kind), h in TRANSITIONS.items() if kind is Started}
    assert handlers == {Transitions._ignore}


@pytest.mark.parametrize(
    "event",
    [
        {"type": "ChannelStateChange", "channel": channel()},
        {"type": "ChannelVarset", "variable": "X", "value": "1", "channel": channel()},
        {"type": "DeviceStateChanged"},
    ],
)
def test_unknown_or_unneeded_events_give_none(event: dict[str, Any]):
    assert translate(event) is None


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "StasisStart",
        {},
        {"type": 3},
        {"type": "StasisStart"},
        {"type": "StasisStart", "channel": {"id": 5}},
        {"type": "StasisStart", "channel": channel(), "args": "inbound"},
        {"type": "ChannelDtmfReceived", "channel": channel()},
        {"type": "ChannelDtmfReceived", "digit": "x", "channel": channel()},
        {"type": "PlaybackFinished", "playback": {"id": "p"}},
        {"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "nonsense"}},
        {"type": "StasisEnd", "channel": None},
    ],
)
def test_malformed_events_are_dropped_with_a_warning(event: Any, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="line311.ari.translate"):
        assert translate(event) is None
    assert caplog.records, "a dropped malformed event must be logged"


def test_malformed_event_warnings_never_contain_the_caller_number(caplog: pytest.LogCaptureFixture):
    bad = {"type": "StasisStart", "channel": channel(), "args": "oops"}
    with caplog.at_level(logging.DEBUG):
        translate(bad)
    assert CALLER not in caplog.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(
        ["StasisStart", "ChannelDtmfReceived", "PlaybackStarted", "PlaybackFinished", "StasisEnd"]
    ),
    body=st.dictionaries(
        st.sampled_from(["channel", "playback", "digit", "args"]), json_values, max_size=4
    ),
)
def test_translate_never_raises_whatever_the_payload(kind: str, body: dict[str, Any]):
    result = translate({"type": kind, **body})
    assert result is None or isinstance(result, Translated | NewCall)


@pytest.mark.parametrize(
    ("cause", "unreachable"),
    [
        (34, True),  # no circuit or channel available
        (20, True),  # not registered
        (47, True),  # resource unavailable
        (102, True),  # the phone never replied
        (16, False),  # normal clearing: our own hang-up at the ring timeout, or theirs
        (17, False),  # busy: the CCR's answer
        (19, False),  # no answer
        (21, False),  # rejected
        (None, False),
        ("34", False),  # not Asterisk's form: no claim made
    ],
)
def test_given_a_hang_up_cause_then_unreachable_only_when_nobody_could_be_reached(
    cause: object, unreachable: bool
) -> None:
    event = {"type": "ChannelDestroyed", "channel": channel(), "cause": cause}
    assert translate(event) == Translated("1700000000.1", CallerHungUp(unreachable=unreachable))
    assert translate({**event, "type": "ChannelHangupRequest"}) == translate(event)


@pytest.mark.parametrize(
    ("kind", "cause", "state", "unreachable"),
    [
        # every RTP port taken: Asterisk could not even start the dial
        ("ChannelHangupRequest", None, "Down", True),
        ("ChannelDestroyed", 0, "Down", True),
        ("ChannelDestroyed", 16, "Down", False),  # a hang-up with a cause: someone's
        ("ChannelHangupRequest", None, "Ringing", False),  # it rang
        ("ChannelDestroyed", 0, "Up", False),
        ("StasisEnd", None, None, False),
    ],
)
def test_given_a_dial_asterisk_could_not_start_then_unreachable(
    kind: str, cause: int | None, state: str | None, unreachable: bool
) -> None:
    event: dict[str, Any] = {"type": kind, "channel": channel() | {"state": state}}
    if cause is not None:
        event["cause"] = cause
    assert translate(event) == Translated("1700000000.1", CallerHungUp(unreachable=unreachable))
