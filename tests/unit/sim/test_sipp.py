"""The SIPp scenario templates line311 renders (no SIPp needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from line311.sim.sipp import (
    ON_CUE,
    SPEECH,
    Cue,
    SippResult,
    cue_port,
    render_caller,
    render_feature_call,
)


def test_given_steps_when_the_feature_call_is_rendered_then_digits_and_speech_follow_interruptible_waits() -> (
    None
):
    xml = render_feature_call([(1000, "4711#"), (8000, SPEECH), (500, "#")], hold_ms=9000)

    root = ET.fromstring(xml.split("\n", 2)[2])  # past the XML declaration and DOCTYPE
    execs = [e.attrib for e in root.iter("exec")]
    assert execs[:3] == [
        {"play_dtmf": "4711#"}, {"play_pcap_audio": "[pcap]"}, {"play_dtmf": "#"}
    ]  # fmt: skip
    waits = [r.attrib["timeout"] for r in root.iter("recv") if r.get("request") == "BYE"]
    assert waits == ["1000", "8000", "500", "9000"]
    assert "[authentication]" in xml


def test_given_a_cue_step_when_the_caller_is_rendered_then_its_keys_wait_for_a_notify_not_a_time() -> (
    None
):
    xml = render_caller([(ON_CUE, "1"), (1500, "0"), (Cue(timeout_ms=9000), "2")], hold_ms=5000)

    root = ET.fromstring(xml.split("\n", 2)[2])
    body = [
        (e.tag, e.get("request"), e.get("timeout"), e.get("optional"), e.get("play_dtmf"))
        for e in root.iter()
        if e.get("request") or e.get("play_dtmf")
    ]
    assert body == [
        ("recv", "BYE", None, "true", None),  # a hang-up while waiting ends the call
        ("recv", "NOTIFY", "60000", None, None),  # no cue in time: the call fails
        ("exec", None, None, None, "1"),
        ("recv", "BYE", "1500", None, None),
        ("exec", None, None, None, "0"),
        ("recv", "BYE", None, "true", None),
        ("recv", "NOTIFY", "9000", None, None),
        ("exec", None, None, None, "2"),
        ("recv", "BYE", "5000", None, None),
    ]


def test_given_a_cue_with_a_pause_when_rendered_then_the_keys_follow_the_notify_after_it() -> None:
    xml = render_caller([(Cue(timeout_ms=9000, after_ms=700), "1")], hold_ms=5000)

    root = ET.fromstring(xml.split("\n", 2)[2])
    waits = [(r.get("request"), r.get("timeout")) for r in root.iter("recv") if r.get("request")]
    assert waits == [("BYE", None), ("NOTIFY", "9000"), ("BYE", "700"), ("BYE", "5000")]
    assert [e.get("play_dtmf") for e in root.iter("exec") if e.get("play_dtmf")] == ["1"]


@pytest.mark.parametrize(
    ("call_id", "port"),
    [("cue40312-1-777@127.0.0.1", 40312), ("1-777@127.0.0.1", None), ("xcue1-1@h", None)],
)
def test_given_a_call_id_when_its_cue_port_is_read_then_only_a_cue_callers_port_is_found(
    call_id: str, port: int | None
) -> None:
    assert cue_port(call_id) == port


def test_given_a_speech_step_when_a_caller_is_rendered_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="speech"):
        render_caller([(1000, SPEECH)], hold_ms=1000)
    with pytest.raises(ValueError, match="DTMF"):
        render_feature_call([(1000, "12x")], hold_ms=1000)


def test_given_a_digest_challenge_when_the_call_is_answered_then_the_final_status_is_the_answer() -> (
    None
):
    assert SippResult(0, [401, 100, 200, 200], [], "").final_status == 200
    assert SippResult(0, [407], [], "").final_status == 407
    assert SippResult(0, [100, 404], [], "").final_status == 404
    assert SippResult(0, [100], [], "").final_status is None
