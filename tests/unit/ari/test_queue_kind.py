"""The queued call's channel events as the leg's events."""

from __future__ import annotations

from line311.ari.queue_kind import adopt
from line311.ari.translate import NewCall
from line311.call.events import (
    CallerHungUp,
    ChannelGone,
    ChannelUp,
    DtmfReceived,
    PlaybackFinished,
)


def test_an_originated_channel_coming_up_or_going_is_channel_up_or_gone() -> None:
    up = NewCall("c1-a1", "outbound", "agent", args=("agent",))
    assert adopt("c1", "c1-a1", up) == ChannelUp("c1-a1")
    assert adopt("c1", "c1-a1", CallerHungUp()) == ChannelGone("c1-a1")
    assert adopt("c1", "c1-a1", DtmfReceived("1")) is None


def test_the_callers_hang_up_and_keys_reach_the_leg_as_they_are() -> None:
    assert adopt("c1", "c1", CallerHungUp()) == CallerHungUp()
    assert adopt("c1", "c1", DtmfReceived("1")) == DtmfReceived("1")
    assert adopt(None, "c1-r1", CallerHungUp()) == ChannelGone("c1-r1")


def test_the_end_of_a_playback_on_any_of_its_channels_reaches_the_leg() -> None:
    """The CCR's whisper plays on the CCR's channel: its end carries the call on."""
    assert adopt(None, "c1-a1", PlaybackFinished("c1-a1-whisper")) == PlaybackFinished(
        "c1-a1-whisper"
    )
