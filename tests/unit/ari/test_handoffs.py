"""The hand-off handlers: SR lookup, the enqueue placeholder and referrals, on fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from line311.ari.errors import AriServerError
from line311.ari.handoffs import dial_string, sr_status_code
from line311.call.commands import Enqueue, SrLookup, Transfer
from line311.call.events import SrLookupResult
from line311.call.values import OTHER_LANGUAGE
from line311.crm_bridge.errors import CrmUnavailable
from tests.unit.ari.ivr_fakes import (
    PREFIX,
    FakeAri,
    FakeCrm,
    channel,
    make_edge,
)


# ---------------------------------------------------------------------------- small maps
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Open", "open"),
        ("in progress", "in_progress"),
        ("In-Progress", "in_progress"),
        ("closed", "closed"),
        ("Resolved", "closed"),
        ("assigned", "assigned"),
        ("on hold", "pending"),
        ("escalated", "unknown"),
        (None, "unknown"),
    ],
)
def test_given_a_crm_status_when_mapped_then_it_is_a_code_with_a_prompt(
    raw: object, code: str
) -> None:
    assert sr_status_code(raw) == code


def test_given_flow_endpoints_when_mapped_then_pjsip_strings_stay_and_line_ids_use_the_trunk() -> (
    None
):
    assert dial_string("PJSIP/dof@referral", "referral") == "PJSIP/dof@referral"
    assert dial_string("dof", "agencies") == "PJSIP/dof@agencies"
    with pytest.raises(ValueError, match="neither"):
        dial_string("Local/s@default", "referral")


# ---------------------------------------------------------------------------- SR lookup
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"status": "Open", "updated_date": "2026-06-01"},
            SrLookupResult("311000000017", "found", "open", "2026-06-01"),
        ),
        ({"status": "escalated"}, SrLookupResult("311000000017", "found", "unknown", None)),
        (None, SrLookupResult("311000000017", "not_found")),
        (CrmUnavailable("down"), SrLookupResult("311000000017", "unavailable")),
    ],
)
async def test_given_the_crm_answer_when_an_sr_is_looked_up_then_the_session_gets_a_result(
    tmp_path: Path, answer: Any, expected: SrLookupResult
) -> None:
    crm = FakeCrm(answer)
    edge = make_edge(tmp_path, crm=crm)

    result = await edge.sr_lookup("c1", SrLookup("311000000017"))

    assert result == expected
    assert crm.asked == ["311000000017"]


async def test_given_a_slow_crm_when_an_sr_is_looked_up_then_it_is_unavailable_in_bounded_time(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path, crm=FakeCrm({"status": "open"}, delay=10), lookup_timeout=0.05)

    result = await edge.sr_lookup("c1", SrLookup("311000000017"))

    assert result.result == "unavailable"
    assert edge.counters.lookups == {"unavailable": 1}


# ---------------------------------------------------------------------------- Enqueue
@pytest.mark.parametrize(("language", "heard_in"), [("ht", "ht"), (OTHER_LANGUAGE, "en")])
async def test_given_no_queue_runtime_when_a_caller_is_enqueued_then_the_handoff_is_noted_and_the_caller_hears_sorry_and_is_hung_up(
    tmp_path: Path, language: str, heard_in: str
) -> None:
    ari = FakeAri()
    ari.on_play = lambda cid, pid: ari.emit(
        {"type": "PlaybackFinished", "playback": {"id": pid, "state": "done"}}
    )
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        result = await edge.command_handlers()[Enqueue]("c1", Enqueue(language, "general"))
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        assert result is None
        assert session.record()["handoff"]["language"] == language
        assert ari.calls == [("play", "c1", f"{PREFIX}/{heard_in}/apology"), ("hangup", "c1")]


async def test_given_a_queue_runtime_when_handlers_are_built_then_its_enqueue_handler_is_used(
    tmp_path: Path,
) -> None:
    async def queue_handler(channel_id: str, command: Enqueue) -> None:
        return None

    handlers = make_edge(tmp_path).command_handlers(enqueue=queue_handler)

    assert handlers[Enqueue] is queue_handler


# ---------------------------------------------------------------------------- Transfer
async def test_given_the_agency_answers_when_a_caller_is_referred_then_both_are_bridged_until_one_hangs_up(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("StasisStart", leg))
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("PJSIP/dof@referral", "DOF"))

        handoff = session.record()["handoff"]
        assert handoff["result"] == "connected"
        assert handoff["dial_string"] == "PJSIP/dof@referral"
        assert ("originate", "PJSIP/dof@referral", "c1-ref", ("outbound", "referral")) in ari.calls
        assert ("add_channel", "c1-refbr", ["c1", "c1-ref"]) in ari.calls
        assert "hangup" not in ari.names()

        ari.emit(channel("StasisEnd", "c1-ref"))  # the agency hangs up
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        assert ("hangup", "c1") in ari.calls
        assert ari.calls[-1] == ("destroy_bridge", "c1-refbr")
        assert edge.counters.referrals == {"connected": 1}


async def test_given_the_agency_leg_fails_when_a_caller_is_referred_then_they_hear_an_apology_and_the_record_says_so(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("ChannelDestroyed", leg, cause_txt="Busy"))
    ari.on_play = lambda cid, pid: ari.emit(
        {"type": "PlaybackFinished", "playback": {"id": pid, "state": "done"}}
    )
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)
        session.inner.language = "es"

        await edge.transfer("c1", Transfer("PJSIP/hhc@referral", "NYC Health + Hospitals"))
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        record = session.record()
        assert record["handoff"]["result"] == "failed"
        assert record["handoff"]["reason"] == "leg-failed:Busy"
        assert record["outcome"] == "referral_failed"
        assert ("play", "c1", f"{PREFIX}/es/apology") in ari.calls
        assert ari.calls[-1] == ("hangup", "c1")
        assert "create_bridge" not in ari.names()


async def test_given_asterisk_refuses_the_originate_when_a_caller_is_referred_then_the_referral_fails_cleanly(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.fail["originate"] = AriServerError(500, "POST", "/channels/c1-ref", "boom")
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("dof", "DOF"))
        for task in list(edge._tasks):
            task.cancel()

        assert session.record()["handoff"]["dial_string"] == "PJSIP/dof@referral"
        assert session.record()["handoff"]["result"] == "failed"


async def test_given_the_caller_hangs_up_while_the_agency_rings_when_referred_then_the_leg_is_dropped(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("StasisEnd", "c1"))
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("dof", "DOF"))

        assert session.record()["handoff"]["reason"] == "caller-hung-up"
        assert ("hangup", "c1-ref") in ari.calls
        assert not edge._tasks  # nobody left to apologise to
