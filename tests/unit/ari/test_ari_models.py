"""Typed ARI resources parse defensively; ids are mandatory; caller numbers stay out of repr."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from line311.ari.client import _normalise_base, backoff_delay, dispatch_key
from line311.ari.errors import AriProtocolError
from line311.ari.models import (
    AsteriskInfo,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    parse_ari_time,
    target_of,
)

CHANNEL = {
    "id": "1700000000.7",
    "name": "PJSIP/carrier-00000007",
    "state": "Up",
    "caller": {"name": "", "number": "2125550123"},
    "dialplan": {
        "context": "from-carrier",
        "exten": "311",
        "priority": 2,
        "app_name": "Stasis",
        "app_data": "line311,inbound,311",
    },
    "creationtime": "2025-03-01T10:11:12.345+0000",
    "language": "en",
    "future_field": {"ignored": True},
}


def test_channel_from_json():
    ch = Channel.from_json(CHANNEL)
    assert ch.id == "1700000000.7"
    assert (ch.state, ch.dialplan_exten, ch.dialplan_context) == ("Up", "311", "from-carrier")
    assert ch.caller_number == "2125550123"
    assert ch.creationtime == datetime(2025, 3, 1, 10, 11, 12, 345000, tzinfo=UTC)
    assert "2125550123" not in repr(ch)


def test_channel_knows_whether_it_sits_in_our_stasis_app():
    ch = Channel.from_json(CHANNEL)
    assert ch.stasis_args("line311") == ("inbound", "311")
    assert ch.stasis_args("other") is None
    assert (
        Channel.from_json({"id": "x", "dialplan": {"app_name": "Playback"}}).stasis_args("line311")
        is None
    )


def broadcast_channel(app_data: str, app_name: str = "StasisBroadcast") -> Channel:
    return Channel.from_json(
        {"id": "b1", "dialplan": {"app_name": app_name, "app_data": app_data, "exten": "311"}}
    )


@pytest.mark.parametrize("app_name", ["StasisBroadcast", "stasisbroadcast", "STASISBROADCAST"])
def test_given_a_channel_offered_by_stasis_broadcast_then_it_knows_it_is_a_broadcast(
    app_name: str,
) -> None:
    assert broadcast_channel("500,^line311-w[0-9],inbound:311", app_name).broadcast
    assert not Channel.from_json(CHANNEL).broadcast
    assert not Channel.from_json({"id": "x"}).broadcast


@pytest.mark.parametrize("app", ["line311-w1", "line311-w2", "line311-w12"])
def test_given_a_broadcast_channel_when_its_filter_matches_the_app_then_its_args_split_on_colons(
    app: str,
) -> None:
    ch = broadcast_channel("500,^line311-w[0-9],inbound:311")
    assert ch.stasis_args(app) == ("inbound", "311")


@pytest.mark.parametrize("app", ["line311", "other-w1", "xline311-w1"])
def test_given_a_broadcast_channel_when_its_filter_does_not_match_the_app_then_none(
    app: str,
) -> None:
    assert broadcast_channel("500,^line311-w[0-9],inbound:311").stasis_args(app) is None


def test_given_a_broadcast_filter_that_is_not_a_regex_then_no_app_holds_it() -> None:
    assert broadcast_channel("500,^line311-w[0-9,inbound:311").stasis_args("line311-w1") is None
    assert broadcast_channel("500,(,inbound:311").stasis_args("line311-w1") is None


@pytest.mark.parametrize(
    ("app_data", "expected"),
    [
        ("500,^line311-w[0-9]", ()),
        ("500,^line311-w[0-9],", ()),
        ("500", ()),  # no filter: offered to every app
        ("", ()),
        ("500,,inbound:311", ("inbound", "311")),
        (" 500 , ^line311-w[0-9] , inbound ", ("inbound",)),
    ],
)
def test_given_a_broadcast_without_args_or_filter_then_its_args_are_what_is_there(
    app_data: str, expected: tuple[str, ...]
) -> None:
    assert broadcast_channel(app_data).stasis_args("line311-w1") == expected


def test_given_a_stasis_channel_then_it_is_not_a_broadcast_and_reads_as_before() -> None:
    ch = broadcast_channel("line311,inbound,311", app_name="Stasis")
    assert not ch.broadcast
    assert ch.stasis_args("line311") == ("inbound", "311")
    assert ch.stasis_args("line311-w1") is None


def test_channel_with_wrong_types_gets_defaults():
    ch = Channel.from_json({"id": "x", "caller": "oops", "dialplan": 3, "creationtime": "never"})
    assert (ch.caller_number, ch.dialplan_exten, ch.creationtime) == ("", "", None)


@pytest.mark.parametrize("data", [None, [], {}, {"id": ""}, {"id": 7}])
def test_resource_without_id_is_a_protocol_error(data: object):
    with pytest.raises(AriProtocolError):
        Channel.from_json(data)


def test_other_models():
    b = Bridge.from_json({"id": "b1", "bridge_type": "mixing", "channels": ["a", 3, "b"]})
    assert (b.id, b.bridge_type, b.channels) == ("b1", "mixing", ("a", "b"))
    p = Playback.from_json({"id": "p1", "target_uri": "channel:c", "state": "queued"})
    assert (p.id, p.state, p.language) == ("p1", "queued", None)
    r = LiveRecording.from_json({"name": "r1", "format": "wav", "duration": 3, "cause": ""})
    assert (r.name, r.duration, r.cause) == ("r1", 3, None)
    info = AsteriskInfo.from_json(
        {"system": {"version": "22.10.1", "entity_id": "aa:bb"}, "status": {}}
    )
    assert info.version == "22.10.1"
    with pytest.raises(AriProtocolError):
        AsteriskInfo.from_json([])


def test_time_and_target_helpers():
    assert parse_ari_time(None) is None
    assert parse_ari_time("2025-01-01T00:00:00.000+0000") is not None
    assert target_of("channel:abc:1") == ("channel", "abc:1")
    assert target_of("nothing") is None


def test_backoff_grows_exponentially_is_capped_and_jittered():
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.5, 10.0, rng) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(5.0 <= d <= 10.0 for d in delays[6:])
    assert all(d > 0 for d in delays)
    assert len({round(d, 6) for d in delays[6:]}) > 1, "jitter"


def test_events_go_to_the_lane_of_their_channel():
    assert dispatch_key({"type": "ChannelDtmfReceived", "channel": {"id": "c1"}}) == "c1"
    assert (
        dispatch_key({"type": "PlaybackStarted", "playback": {"target_uri": "channel:c1"}}) == "c1"
    )
    assert (
        dispatch_key({"type": "RecordingFinished", "recording": {"target_uri": "channel:c2"}})
        == "c2"
    )
    assert (
        dispatch_key({"type": "PlaybackStarted", "playback": {"target_uri": "bridge:b"}})
        == "bridge:b"
    )
    assert dispatch_key({"type": "BridgeCreated", "bridge": {"id": "b"}}) == "bridge:b"
    assert dispatch_key({"type": "DeviceStateChanged"}) == ""
    assert dispatch_key({"type": "PlaybackStarted"}) == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8088", "http://127.0.0.1:8088"),
        ("http://127.0.0.1:8088/", "http://127.0.0.1:8088"),
        ("http://127.0.0.1:8088/ari/", "http://127.0.0.1:8088"),
    ],
)
def test_base_url_normalisation(given: str, expected: str):
    assert _normalise_base(given) == expected


def test_bad_base_url_is_refused():
    with pytest.raises(ValueError, match="ARI base URL"):
        _normalise_base("127.0.0.1:8088")
