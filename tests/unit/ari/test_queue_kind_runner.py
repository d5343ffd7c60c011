"""The queued call as a runner session kind, against a scripted ARI: the real Runner and
Router, real events, a fake clock (`tests.unit.ari.queue_harness`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from line311.call.commands import Enqueue
from line311.call.record import LegEnd
from line311.queue.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.queue_log import parse_lines
from tests.unit.ari.queue_harness import MAX_WAIT, NUMBER, Harness


async def test_given_a_free_english_ccr_when_an_english_caller_enqueues_then_the_ccr_hears_the_whisper_and_both_are_bridged(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.agent_login("agent1")
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        assert not any(c[0] == "create_bridge" for c in h.ari.calls)  # on hold: no bridge
        assert ("start_moh", "c1") in h.ari.calls
        await h.step()
        ((_, endpoint, agent_leg, args),) = h.offered()
        assert endpoint == "PJSIP/agent1"
        assert args == ("outbound", "agent", "c1")
        h.now += 3
        await h.answer(agent_leg)
        whisper = [c for c in h.ari.did("play") if c[1] == agent_leg]
        assert whisper[0][2] == [
            "sound:/s/en/whisper/lang/en",
            "sound:/s/en/whisper/topic/general",
        ]
        assert ("add_channel", "conn-c1", ["c1", agent_leg]) in h.ari.calls
        # the resident's number never reaches the CCR: a neutral caller id before bridging
        assert ("set_var", "c1", "CALLERID(all)", '"311 en general" <311>') in h.ari.calls
        (answered,) = h.of(CallAnswered)
        assert (answered.agent_id, answered.at - h.of(CallEnqueued)[0].at) == ("agent1", 3)
        h.now += 60
        await h.hang("c1")
        (done,) = h.of(CallCompleted)
        assert (done.talk_seconds, done.ended_by, done.wrapup_seconds) == (60, "caller", 10)
        assert ("hangup", agent_leg) in h.ari.calls
        assert h.router.agent("agent1").state.value == "wrap_up"
        assert h.log is not None
        h.log.close()
        lines = list(parse_lines((tmp_path / "queue_log").read_text().splitlines()))
        assert [r.event for r in lines] == ["AGENTLOGIN", "ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
        # CONNECT: waited 3 s, agent1's phone rang 3 s; COMPLETE names the CCR
        assert (lines[2].agent, lines[2].data[0], lines[2].data[2]) == ("agent1", "3", "3")
        assert (lines[3].agent, lines[3].data[:2]) == ("agent1", ("3", "60"))


def _queue_log(h: Harness, tmp_path: Path, event: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(call id, agent, data)`` of the queue_log's ``event`` lines so far."""
    assert h.log is not None
    h.log.flush()
    lines = (tmp_path / "queue_log").read_text().splitlines()
    return [(r.call_id, r.agent, r.data) for r in parse_lines(lines) if r.event == event]


async def test_given_a_spanish_caller_when_only_the_english_ccr_is_free_then_nobody_is_offered_until_the_bilingual_ccr_logs_in() -> (
    None
):
    async with Harness() as h:
        h.runtime.agent_login("agent1")
        h.runtime.agent_login("agent2")
        h.runtime.agent_pause("agent2")
        await h.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.step()
        assert h.offered() == []
        h.runtime.agent_resume("agent2")
        await h.step()
        ((_, endpoint, _, _),) = h.offered()
        assert endpoint == "PJSIP/agent2"


async def test_given_a_ringing_offer_when_the_ccr_does_not_answer_then_they_are_paused_and_the_call_keeps_its_place(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.agent_login("agent1")
        h.runtime.agent_login("agent2")
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        await h.step()
        ((_, first, leg, _),) = h.offered()
        assert first == "PJSIP/agent1"  # the better English skill
        h.now += 15
        await h.hang(leg)  # rang out
        paused = [e for e in h.of(AgentStateChanged) if e.state.value == "paused"]
        assert [(e.agent_id, e.reason) for e in paused] == [("agent1", "no-answer")]
        await h.step()
        assert [c[1] for c in h.offered()] == ["PJSIP/agent1", "PJSIP/agent2"]
        assert h.router.position("c1") == 1
        assert _queue_log(h, tmp_path, "RINGNOANSWER") == [("c1", "agent1", ("15000",))]


async def test_given_a_ccr_phone_asterisk_cannot_reach_then_no_miss_a_warning_and_the_ccr_back_after_the_hold(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.agent_login("agent2")
        leg = await h.ring()  # agent1 (the better English skill) is offered c1 first
        assert [c[1] for c in h.offered()] == ["PJSIP/agent1"]
        with caplog.at_level(logging.WARNING, logger="line311.ari.queue_router"):
            # Asterisk out of media ports: the dial fails at once, nothing rang
            await h.event({"type": "ChannelDestroyed", "channel": {"id": leg}, "cause": 34})
        assert "agent1's phone could not be rung" in caplog.text
        paused = [e for e in h.of(AgentStateChanged) if e.state.value == "paused"]
        assert [(e.agent_id, e.reason) for e in paused] == [("agent1", "unreachable")]
        assert h.router.agent_figures("agent1", h.now).missed_offers == 0
        # app_queue writes RINGNOANSWER for an unavailable member too (nothing rang: 0 ms)
        assert _queue_log(h, tmp_path, "RINGNOANSWER") == [("c1", "agent1", ("0",))]
        await h.step()
        assert [c[1] for c in h.offered()] == ["PJSIP/agent1", "PJSIP/agent2"]
        h.now += 10
        await h.step()
        assert h.router.agent("agent1").state.value == "available"
        back = [e for e in h.of(AgentStateChanged) if e.agent_id == "agent1"]
        assert back[-1].state.value == "available"


async def test_given_a_waiting_caller_when_they_hang_up_then_it_is_an_abandon_and_the_ringing_ccr_is_released(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        leg = await h.ring()
        h.now += 12
        await h.hang("c1")
        (abandon,) = h.of(CallAbandoned)
        assert abandon.at - h.of(CallEnqueued)[0].at == 12
        assert ("hangup", leg) in h.ari.calls
        assert h.router.agent("agent1").state.value == "available"
        assert not h.holds(leg)
        # app_queue's RINGCANCELED: agent1's phone rang 12 s when the caller hung up
        assert _queue_log(h, tmp_path, "RINGCANCELED") == [("c1", "agent1", ("12000",))]
        assert _queue_log(h, tmp_path, "RINGNOANSWER") == []


async def test_given_no_free_ccr_when_the_caller_presses_1_then_the_call_keeps_its_place_and_the_resident_is_called_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    async with Harness() as h:
        await h.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.key("c1", "1")
        await h.settle()
        assert len(h.of(CallbackRequested)) == 1
        assert ("hangup", "c1") in h.ari.calls
        await h.hang("c1")  # our own hang-up comes back as an event: not an abandon
        assert h.of(CallAbandoned) == []
        h.now += 100
        h.runtime.agent_login("agent2")
        await h.step()
        ((_, _, leg, _),) = h.offered()
        await h.answer(leg)
        assert h.of(CallAnswered) == []  # answered only when the resident is reached
        (resident,) = [c for c in h.ari.did("originate") if c[3][1] == "resident"]
        assert resident[1] == f"PJSIP/carrier/sip:{NUMBER}@127.0.0.1:5099"
        await h.answer(resident[2])
        await h.settle()
        (answered,) = h.of(CallAnswered)
        assert answered.at - h.of(CallEnqueued)[0].at == 100
        # the number went into one dial string, nowhere else
        assert NUMBER not in caplog.text
        assert all(NUMBER not in repr(e) for e in h.events)


async def test_given_a_callback_when_the_resident_does_not_answer_then_it_is_abandoned_and_the_ccr_wraps_up() -> (
    None
):
    async with Harness() as h:
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        await h.key("c1", "1")
        await h.settle()
        h.runtime.agent_login("agent1")
        await h.step()
        ((_, _, leg, _),) = h.offered()
        await h.answer(leg)
        (resident,) = [c for c in h.ari.did("originate") if c[3][1] == "resident"]
        await h.hang(resident[2])
        assert len(h.of(CallAbandoned)) == 1
        assert ("hangup", leg) in h.ari.calls
        assert h.router.agent("agent1").state.value == "wrap_up"


async def test_position_and_estimated_wait_are_announced_in_the_callers_language() -> None:
    async with Harness() as h:
        h.runtime.agent_login("agent2")
        h.runtime.agent_pause("agent2")
        await h.enqueue("c1", Enqueue(language="es", topic="general"))
        h.now += 5
        await h.step()
        (play,) = [c for c in h.ari.did("play") if c[1] == "c1"]
        media = play[2]
        assert media[0] == "sound:/s/es/queue/position"
        assert media[-1] == "sound:/s/es/queue/callback_offer"
        assert h.ari.calls.count(("start_moh", "c1")) == 2  # music again after the message


def test_a_topic_without_its_own_queue_goes_to_the_general_queue() -> None:
    h = Harness()
    assert h.runtime.queue_for("sr_status") == "general"
    assert h.runtime.queue_for("general") == "general"


async def test_given_max_wait_reached_when_the_caller_presses_1_then_the_call_takes_its_old_place_for_a_callback() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.enqueue("c1", Enqueue(language="ko", topic="general"))
        h.now += 30
        await h.enqueue("c2", Enqueue(language="en", topic="general"))
        h.now += 31
        await h.step()
        assert h.played("c1") == ["sound:/s/ko/queue/max_wait_offer"]
        assert h.router.position("c2") == 1  # out of line while the offer plays
        await h.key("c1", "1")
        await h.settle()
        (requested,) = h.of(CallbackRequested)
        assert (requested.call_id, requested.at_max_wait) == ("c1", True)
        assert h.of(CallTimedOut) == []
        assert h.played("c1")[-1] == "sound:/s/ko/queue/callback_confirmed"
        assert ("hangup", "c1") in h.ari.calls
        await h.hang("c1")  # our own hang-up: not an abandon
        assert h.of(CallAbandoned) == []
        assert (h.router.position("c1"), h.router.position("c2")) == (1, 2)
        h.now += 100  # a callback never times out; c2 now hears the offer
        await h.step()
        assert h.played("c2")[-1] == "sound:/s/en/queue/max_wait_offer"
        assert h.router.position("c1") == 1
        await h.hang("c2")
        h.runtime.agent_login("agent1")
        await h.step()
        ((_, _, leg, args),) = h.offered()
        assert args == ("outbound", "agent", "c1")
        await h.answer(leg)
        assert [c for c in h.ari.did("originate") if c[3][1] == "resident"]


async def test_given_max_wait_reached_when_the_caller_does_not_press_1_then_they_hear_how_to_reach_us_and_are_hung_up() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=0) as h:
        await h.past_max_wait("c1", "es")
        await h.lapse()  # the offer plays, nobody presses 1
        assert ("hangup", "c1") in h.ari.calls
        assert h.played("c1") == [
            "sound:/s/es/queue/max_wait_offer",
            "sound:/s/es/queue/max_wait_goodbye",
        ]
        (timed_out,) = h.of(CallTimedOut)
        assert (timed_out.reason, timed_out.callback_offered) == ("max-wait", True)
        assert h.of(CallbackRequested) == []
        assert not any(c[0] == "destroy_bridge" for c in h.ari.calls)
        assert h.runtime.waiting_calls == 0
        await h.hang("c1")
        assert h.of(CallAbandoned) == []


async def test_given_the_max_wait_offer_when_the_caller_hangs_up_then_it_is_a_timeout_after_an_offer() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.past_max_wait("c1", "en")
        await h.hang("c1")
        (timed_out,) = h.of(CallTimedOut)
        assert timed_out.callback_offered
        assert h.of(CallAbandoned) == []
        assert h.played("c1") == ["sound:/s/en/queue/max_wait_offer"]  # no goodbye to nobody
        assert h.runtime.waiting_calls == 0


# ---------------------------------------------------------------------- the call record's leg
async def test_given_an_answered_call_when_it_ends_then_its_leg_has_queue_agent_wait_talk_and_wrapup() -> (
    None
):
    async with Harness() as h:
        h.runtime.agent_login("agent1")
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        assert h.runtime.in_queue("c1")
        await h.step()
        ((_, _, agent_leg, _),) = h.offered()
        h.now += 3
        await h.answer(agent_leg)
        assert h.legs == {}  # not over yet
        h.now += 60
        await h.hang("c1")

        leg = h.legs["c1"]
        assert (leg.end, leg.queue, leg.agent_id) == (LegEnd.ANSWERED, "general", "agent1")
        assert (leg.wait_seconds, leg.talk_seconds, leg.wrapup_seconds) == (3, 60, 10)
        assert leg.ended_by == "caller"
        assert leg.skills == ("lang:en", "topic:general")
        assert [(o.agent_id, o.answered) for o in leg.offers] == [("agent1", True)]
        assert leg.callback_kept is None
        assert not h.runtime.in_queue("c1")


async def test_given_a_caller_who_hangs_up_waiting_then_the_leg_has_the_abandon_time() -> None:
    async with Harness() as h:
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        h.now += 12
        await h.hang("c1")

        leg = h.legs["c1"]
        assert leg.end is LegEnd.ABANDONED
        assert leg.abandoned_at is not None
        assert leg.abandoned_at.timestamp() == h.now
        assert leg.wait_seconds == 12


async def test_given_a_kept_callback_then_the_leg_says_requested_and_kept() -> None:
    async with Harness() as h:
        await h.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.key("c1", "1")
        await h.settle()
        await h.hang("c1")  # our own hang-up after the goodbye
        assert h.runtime.in_queue("c1")  # the place is kept: the leg goes on
        h.now += 100
        h.runtime.agent_login("agent2")
        await h.step()
        ((_, _, agent_leg, _),) = h.offered()
        await h.answer(agent_leg)
        (resident,) = [c for c in h.ari.did("originate") if c[3][1] == "resident"]
        await h.answer(resident[2])
        await h.settle()
        h.now += 30
        await h.hang(resident[2])

        leg = h.legs["c1"]
        assert leg.callback_requested_at is not None
        assert leg.callback_kept is True
        assert (leg.wait_seconds, leg.talk_seconds, leg.agent_id) == (100, 30, "agent2")


async def test_given_an_announcement_then_the_leg_keeps_the_position_told() -> None:
    async with Harness() as h:
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        h.now += 5
        await h.step()
        open_leg = h.runtime.open_leg("c1")
        assert open_leg is not None
        assert [a.position for a in open_leg.announcements] == [1]
        assert open_leg.end is LegEnd.INTERRUPTED


async def test_given_max_wait_when_the_offer_is_declined_then_the_leg_timed_out_and_when_taken_it_goes_on() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=0) as h:
        await h.past_max_wait("c1", "es")
        await h.lapse()  # the offer plays, nobody presses 1
        assert "c1" in h.legs
        leg = h.legs["c1"]
        assert (leg.end, leg.wait_seconds) == (LegEnd.TIMED_OUT, 61)
        assert leg.timed_out_at is not None
        assert leg.callback_requested_at is None

    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.past_max_wait("c2", "en")
        await h.key("c2", "1")
        await h.settle()
        await h.hang("c2")  # our own hang-up after the confirmation
        assert h.legs == {}
        assert h.runtime.in_queue("c2")  # kept its place as a callback: the leg goes on
        open_leg = h.runtime.open_leg("c2")
        assert open_leg is not None
        assert open_leg.callback_requested_at is not None


async def test_given_a_caller_who_leaves_while_being_put_on_hold_then_the_rest_of_the_batch_is_dropped_and_it_is_an_abandon() -> (
    None
):
    async with Harness() as h:
        h.ari.gone.add("c1")  # MOH refused: the channel is gone
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        assert h.of(CallAbandoned)[0].call_id == "c1"
        assert not h.runtime.in_queue("c1")
        assert not h.runner.holds("c1")
        assert h.legs["c1"].end is LegEnd.ABANDONED


async def test_given_a_ringing_offer_when_the_ccr_logs_out_then_the_router_task_withdraws_it_and_the_call_keeps_its_place() -> (
    None
):
    async with Harness() as h:
        leg = await h.ring()
        assert h.holds(leg)  # tied to the call before it was dialled
        h.runtime.agent_logout("agent1")  # from the desk API: delivered by the router's task
        assert ("hangup", leg) not in h.ari.calls
        await h.step()
        assert ("hangup", leg) in h.ari.calls
        saved = h.saved("c1")
        assert saved is not None
        assert saved["phase"] == "waiting"
        assert h.router.position("c1") == 1
        await h.hang(leg)  # our own hang-up comes back: no longer the call's channel
        assert not h.holds(leg)
        assert h.router.agent("agent1").state.value == "logged_out"


async def test_a_step_that_leaves_the_router_as_it_was_does_not_wake_it() -> None:
    async with Harness() as h:
        kind = h.runtime
        h.runtime.agent_login("agent1")  # a change: the router is woken
        assert kind._wake.is_set()
        kind._wake.clear()
        kind._after_change()  # nothing changed since (a prompt started, music stopped ...)
        assert not kind._wake.is_set()
        await h.enqueue("c1", Enqueue(language="en", topic="general"))  # a change again
        assert kind._wake.is_set()
