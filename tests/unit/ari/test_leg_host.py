"""`line311.ari.leg_host.adopt`: which of a queued call's channel events the leg hears."""

from __future__ import annotations

from line311.ari.leg_host import adopt
from line311.ari.translate import NewCall
from line311.call.events import (
    CallerHungUp,
    ChannelGone,
    ChannelUp,
    DtmfReceived,
    PlaybackFinished,
)


def test_given_a_ccr_channel_that_could_not_be_reached_then_gone_unreachable() -> None:
    assert adopt("c1", "c1-a1", CallerHungUp(unreachable=True)) == ChannelGone("c1-a1", True)
    assert adopt("c1", "c1-a1", CallerHungUp()) == ChannelGone("c1-a1", False)
    assert adopt("c1", "c1", CallerHungUp()) == CallerHungUp()  # the caller's: as is


def test_given_other_events_then_the_leg_hears_what_is_its_own() -> None:
    new = NewCall("c1-a1", "outbound", "", None, ())
    assert adopt("c1", "c1-a1", new) == ChannelUp("c1-a1")
    assert adopt("c1", "c1-a1", DtmfReceived("5")) is None  # only the caller's keys
    assert adopt("c1", "c1", DtmfReceived("5")) == DtmfReceived("5")
    assert adopt("c1", "c1-a1", PlaybackFinished("w1")) == PlaybackFinished("w1")
