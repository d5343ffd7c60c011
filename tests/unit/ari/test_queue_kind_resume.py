"""A controller carries on the queued calls another one saved (issue 12 point 4): the runner
rebuilds them from its session store after it connects; two harnesses share one store as two
processes share Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from line311.call.commands import Enqueue
from line311.call.store import InMemorySessionStore
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallTimedOut,
)
from line311.queue.queue_log import parse_lines
from line311.routing.queues import load_queues
from tests.unit.ari.queue_harness import MAX_WAIT, NUMBER, Harness, channels


async def _three_waiting(store: InMemorySessionStore) -> Harness:
    """c1, c2, c3 enqueued 10 s apart (c3 asked for a callback), then the process dies."""
    old = Harness(store=store)
    async with old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.enqueue("c2", Enqueue(language="en", topic="general", priority=0))
        old.now += 10
        await old.enqueue("c3", Enqueue(language="en", topic="general"))
        await old.key("c3", "1")
        saved = old.saved("c3")
        assert saved is not None
        assert saved["callback"] is True
    return old


async def test_given_stored_queued_calls_when_a_new_controller_connects_then_they_keep_their_order_and_reach_ccrs(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    old = await _three_waiting(store)
    store._entries = dict(reversed(store._entries.items()))  # Redis lists them in any order
    new = Harness(tmp_path, store=store, now=old.now + 30)
    new.ari.channels = channels("c1", "c2")  # c3's caller was let go: a callback keeps its place
    async with new:
        await new.runner.on_connected()
        await new.settle()
        assert [new.router.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
        assert ("start_moh", "c1") in new.ari.calls  # music again
        assert new.runner.holds("c1")
        assert new.runner.holds("c3")
        new.runtime.agent_login("agent1")
        await new.step()
        ((_, endpoint, leg, args),) = new.offered()
        assert (endpoint, args) == ("PJSIP/agent1", ("outbound", "agent", "c1"))
        await new.answer(leg)
        (answered,) = new.of(CallAnswered)
        assert (answered.call_id, answered.at - old.now) == ("c1", 30)
        assert ("add_channel", "conn-c1", ["c1", leg]) in new.ari.calls
        new.runtime.agent_login("agent2")
        await new.step()
        assert [c[3][2] for c in new.offered()] == ["c1", "c2"]
        await new.hang("c1")
        assert new.saved("c1") is None  # forgotten when its leg ended
        assert new.legs["c1"].wait_seconds == 50  # from the original enqueue time
        assert new.log is not None
        new.log.close()
        lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
        assert [(r.event, r.call_id, r.data[0]) for r in lines if r.event == "CONNECT"] == [
            ("CONNECT", "c1", "50")
        ]


async def test_a_call_saved_while_ringing_is_resumed_waiting_and_rings_again() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.ring()
        saved = old.saved("c1")
        assert saved is not None
        assert saved["phase"] == "ringing"

    new = Harness(store=store, now=old.now + 2)
    new.ari.channels = channels("c1", "c1-a1")
    async with new:
        await new.runner.on_connected()
        assert ("hangup", "c1-a1") in new.ari.calls  # the old process's ring
        saved = new.saved("c1")
        assert saved is not None
        assert saved["phase"] == "waiting"
        new.runtime.agent_login("agent1")
        await new.step()
        ((_, _, leg, _),) = new.offered()
        assert leg == "c1-a2"


async def test_given_a_caller_talking_to_a_ccr_when_a_new_controller_resumes_the_call_then_the_record_has_the_full_talk_time(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        leg = await old.ring()
        old.now += 5
        await old.answer(leg)
        answered_at = old.now
        saved = old.saved("c1")
        assert saved is not None
        assert saved["phase"] == "connected"

    new = Harness(tmp_path, store=store, now=old.now + 40)
    new.ari.channels = channels("c1", leg)
    async with new:
        await new.runner.on_connected()
        # still bridged: nothing hung up, nothing re-bridged; the CCR is on the call again
        assert not new.ari.did("hangup")
        assert not new.ari.did("add_channel")
        assert new.router.agent("agent1").state.value == "on_call"
        assert new.holds(leg)
        new.now += 20
        await new.hang("c1")
        (done,) = new.of(CallCompleted)
        assert (done.talk_seconds, done.ended_by) == (60, "caller")
        assert ("hangup", leg) in new.ari.calls
        record = new.legs["c1"]
        assert (record.talk_seconds, record.agent_id) == (60, "agent1")
        assert record.answered_at is not None
        assert record.answered_at.timestamp() == answered_at
        assert new.router.agent("agent1").state.value == "wrap_up"
        assert new.log is not None
        new.log.close()  # the new controller's queue_log goes on with the call it resumed
        lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
        (completed,) = [r for r in lines if r.event == "COMPLETECALLER"]
        assert (completed.call_id, completed.data[:2]) == ("c1", ("5", "60"))
        assert completed.agent == "agent1"  # the CCR, as app_queue names its member


async def test_a_caller_who_hung_up_while_no_controller_listened_is_an_abandon() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
    new = Harness(store=store, now=old.now + 9)
    async with new:  # c1 is not listed any more
        await new.runner.on_connected()
        assert new.legs["c1"].end.value == "abandoned"
        assert not new.runtime.in_queue("c1")
        assert len(store) == 0


async def test_a_resumed_call_keeps_its_priority() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.enqueue("c2", Enqueue(language="en", topic="general", priority=1))
        assert [old.router.position(c) for c in ("c1", "c2")] == [2, 1]
    new = Harness(store=store, now=old.now + 120)
    new.ari.channels = channels("c1", "c2")
    async with new:
        await new.runner.on_connected()
        assert [new.router.position(c) for c in ("c1", "c2")] == [2, 1]
        assert new.router.waiting_call("c2").priority == 1


async def test_given_the_ccr_hung_up_while_no_controller_listened_when_the_call_is_resumed_then_it_ends_as_ended_by_the_agent() -> (
    None
):
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.connect()
    new = Harness(store=store, now=old.now + 30)
    new.ari.channels = channels("c1")  # the CCR's channel is gone
    async with new:
        await new.runner.on_connected()
        (done,) = new.of(CallCompleted)
        assert (done.ended_by, done.talk_seconds) == ("agent", 30)
        assert ("hangup", "c1") in new.ari.calls  # the caller is not left alone in the bridge
        assert not new.runner.holds("c1")
        assert new.router.agent("agent1").state.value == "wrap_up"


async def test_given_a_reconnect_when_the_ccrs_channel_vanished_meanwhile_then_the_call_ends() -> (
    None
):
    async with Harness() as h:
        await h.connect()
        h.ari.channels = channels("c1")  # the websocket was away; the CCR hung up
        await h.runner.on_connected()
        (done,) = h.of(CallCompleted)
        assert done.ended_by == "agent"
        assert not h.runner.holds("c1")


# ---------------------------------------------------------------------- a kept callback's contact
async def _kept_callback(store: InMemorySessionStore) -> Harness:
    """c1 asks for a callback, is let go and hangs up; then the process dies."""
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        await old.key("c1", "1")
        await old.settle()
        await old.hang("c1")
        assert len(old.of(CallbackRequested)) == 1
    return old


async def test_a_kept_callback_s_contact_is_saved_sealed_and_the_new_controller_calls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    store = InMemorySessionStore()
    old = await _kept_callback(store)
    stored = store._entries["c1"]
    assert NUMBER not in stored  # the saved bytes hold a token, never the number
    token = json.loads(stored)["state"]["contact"]
    assert token.startswith("v1.")

    new = Harness(store=store, now=old.now + 30)  # same key; the caller's channel is gone
    async with new:
        await new.runner.on_connected()
        assert new.router.position("c1") == 1
        new.runtime.agent_login("agent1")
        await new.step()
        ((_, _, leg, _),) = new.offered()
        await new.answer(leg)
        (resident,) = [c for c in new.ari.did("originate") if c[3][1] == "resident"]
        assert resident[1] == f"PJSIP/carrier/sip:{NUMBER}@127.0.0.1:5099"
        stored_now = new.stored("c1")
        assert stored_now is not None
        assert "contact" not in stored_now  # dialled: the contact is not kept any longer
        assert "c1" not in new.runtime.handlers.contacts
        await new.answer(resident[2])
        (answered,) = new.of(CallAnswered)
        assert answered.at - old.now == 30
        await new.hang(resident[2])
        assert len(store) == 0
        record = new.legs["c1"]  # still a callback, requested before the restart
        assert record.callback_requested_at is not None
        assert record.callback_requested_at.timestamp() == old.now
        assert record.callback_kept is True
    assert NUMBER not in caplog.text


@pytest.mark.parametrize("how", ["another key", "altered", "no key"])
async def test_a_kept_callback_whose_contact_does_not_open_ends_as_an_abandon(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = InMemorySessionStore()
    old = await _kept_callback(store)
    if how == "altered":
        entry = json.loads(store._entries["c1"])
        token = entry["state"]["contact"]
        entry["state"]["contact"] = token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
        store._entries["c1"] = json.dumps(entry)
    key = {"another key": "another-contact-key-987654321", "altered": None, "no key": ""}[how]
    new = (
        Harness(store=store, now=old.now + 30, contact_key=key)
        if key is not None
        else Harness(store=store, now=old.now + 30)
    )
    async with new:
        await new.runner.on_connected()  # no crash: the callback ends, recorded
        (abandoned,) = new.of(CallAbandoned)
        assert abandoned.call_id == "c1"
        assert new.legs["c1"].end.value == "abandoned"
        assert not new.runtime.in_queue("c1")
        new.runtime.agent_login("agent1")
        await new.step()
        assert new.offered() == []  # no CCR is given a callback that cannot call anyone
        assert len(store) == 0
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors
    assert "callback-contact-unreadable" in errors[0].getMessage()
    assert NUMBER not in caplog.text


async def test_a_caller_in_the_max_wait_offer_is_offered_again_and_a_callback_keeps_their_place() -> (
    None
):
    store = InMemorySessionStore()
    async with Harness(store=store, queues=MAX_WAIT, offer_timeout=30) as old:
        await old.enqueue("c1", Enqueue(language="ko", topic="general"))
        old.now += 30
        await old.enqueue("c2", Enqueue(language="en", topic="general"))
        old.now += 31
        await old.step()
        assert old.played("c1") == ["sound:/s/ko/queue/max_wait_offer"]
        saved = old.saved("c1")
        assert saved is not None
        assert saved["phase"] == "expired"

    new = Harness(store=store, queues=MAX_WAIT, offer_timeout=30, now=old.now + 5)
    new.ari.channels = channels("c1", "c2")
    async with new:
        await new.runner.on_connected()
        assert new.played("c1") == ["sound:/s/ko/queue/max_wait_offer"]  # played again
        assert new.router.position("c2") == 1  # c1 is out of line while the offer plays
        await new.key("c1", "1")
        await new.settle()
        (requested,) = new.of(CallbackRequested)
        assert (requested.call_id, requested.at_max_wait) == ("c1", True)
        assert new.of(CallTimedOut) == []
        assert new.played("c1")[-1] == "sound:/s/ko/queue/callback_confirmed"
        assert (new.router.position("c1"), new.router.position("c2")) == (1, 2)  # its old place


async def test_given_a_queued_caller_whose_asterisk_restarted_when_a_controller_connects_then_the_leg_is_lost_not_abandoned(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
    new = Harness(tmp_path, store=store, now=old.now + 9)
    new.ari.started = datetime.fromtimestamp(old.now + 5, UTC)  # after the call began
    async with new:  # c1 is not listed any more: it died with its Asterisk
        await new.runner.on_connected()
        (lost,) = new.of(CallAbandoned)
        assert lost.media_server_lost
        assert new.legs["c1"].end.value == "media_server_lost"
        assert new.legs["c1"].abandoned_at is None
        assert not new.runtime.in_queue("c1")
        assert len(store) == 0
    assert new.log is not None
    new.log.close()
    lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
    assert [r.event for r in lines if r.call_id == "c1"][-1] == "ABANDON"  # one terminal line


async def test_given_a_conversation_whose_asterisk_restarted_when_a_controller_connects_then_it_ends_by_the_loss() -> (
    None
):
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.connect()
    new = Harness(store=store, now=old.now + 30)
    new.ari.started = datetime.fromtimestamp(old.now + 20, UTC)
    async with new:  # neither the caller's channel nor the CCR's is listed
        await new.runner.on_connected()
        (done,) = new.of(CallCompleted)
        assert done.ended_by == "media_server_lost"
        assert new.legs["c1"].end.value == "answered"
        assert new.legs["c1"].ended_by == "media_server_lost"
        assert not new.runner.holds("c1")


async def test_given_a_full_queue_holding_a_kept_callback_when_a_new_controller_resumes_then_every_caller_keeps_their_place() -> (
    None
):
    # a callback taken at max wait takes its old place whatever the queue's length, so a
    # queue can hold more than max_length; re-entered as new arrivals, the last ones resumed
    # were refused (no overflow: the caller's call was lost) or moved to the overflow queue
    full = load_queues({"general": {"requires": "topic:general", "max_wait": 60, "max_length": 1}})
    store = InMemorySessionStore()
    async with Harness(store=store, queues=full, offer_timeout=30) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 61
        await old.step()  # c1 hears the max-wait offer, out of line: room for c2
        await old.enqueue("c2", Enqueue(language="en", topic="general"))
        await old.key("c1", "1")
        await old.settle()
        assert (old.router.position("c1"), old.router.position("c2")) == (1, 2)

    new = Harness(store=store, queues=full, offer_timeout=30, now=old.now + 5)
    new.ari.channels = channels("c2")
    async with new:
        await new.runner.on_connected()
        assert (new.router.position("c1"), new.router.position("c2")) == (1, 2)
        assert new.runner.holds("c2")
        assert new.of(CallAbandoned) == []
