"""`translate`: recording events (the supervisor line's) among the channel events."""

from __future__ import annotations

import pytest

from line311.ari.translate import Translated, translate
from line311.call.events import CallerHungUp, DtmfReceived, RecordingFinished


@pytest.mark.parametrize(
    ("kind", "failed"), [("RecordingFinished", False), ("RecordingFailed", True)]
)
def test_given_a_recording_end_on_a_channel_then_it_is_that_channels_event(kind, failed):
    event = {"type": kind, "recording": {"name": "alert-1", "target_uri": "channel:c1"}}
    assert translate(event) == Translated("c1", RecordingFinished("alert-1", failed))


@pytest.mark.parametrize(
    "event",
    [
        {"type": "RecordingFinished", "recording": {"name": "r", "target_uri": "bridge:b1"}},
        {"type": "RecordingFinished", "recording": {"name": "r", "target_uri": "nonsense"}},
        {"type": "RecordingFailed", "recording": {"target_uri": "channel:c1"}},
        {"type": "RecordingFinished"},
        {"type": "ChannelDtmfReceived", "channel": {"id": "c1"}, "digit": "?"},
        "not an event",
    ],
)
def test_given_what_the_line_does_not_need_or_cannot_read_then_none(event):
    assert translate(event) is None


def test_given_channel_events_then_they_are_translated_as_before():
    dtmf = {"type": "ChannelDtmfReceived", "digit": "5", "channel": {"id": "c1"}}
    assert translate(dtmf) == Translated("c1", DtmfReceived("5"))
    end = {"type": "StasisEnd", "channel": {"id": "c1"}}
    assert translate(end) == Translated("c1", CallerHungUp())
