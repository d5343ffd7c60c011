"""The queued call's ARI commands as handlers: what each answers, and which answers stop a batch."""

from __future__ import annotations

from line311.ari.queue_handlers import QueueHandlers, stops_batch
from line311.call.commands import (
    AddToBridge,
    CreateBridge,
    HangupChannel,
    HideIdentity,
    HoldCaller,
    Originate,
    PlayPrompts,
    ReadContact,
    StopMoh,
)
from line311.call.events import ChannelGone, CommandFailed, ContactRead, PlaybackFinished
from tests.unit.ari.queue_harness import NOT_FOUND, NUMBER, REFUSED, FailingAri, FakeAri


def handlers(ari: FakeAri) -> QueueHandlers:
    return QueueHandlers(
        ari,  # type: ignore[arg-type]
        sounds_prefix="sound:/s/",
        callback_dial="PJSIP/t/sip:{number}@{address}",
    )


async def test_each_handler_answers_with_the_event_for_the_leg_or_none() -> None:
    ari = FakeAri()
    steps = handlers(ari).handlers()
    assert await steps[HoldCaller]("c1", HoldCaller("c1")) is None
    assert await steps[StopMoh]("c1", StopMoh("c1")) is None
    assert await steps[HangupChannel]("c1", HangupChannel("c1-a1")) is None
    assert [bool(ari.did(n)) for n in ("start_moh", "stop_moh", "hangup")] == [True] * 3
    play = PlayPrompts("c1", "p1", ("queue/periodic",), "en")
    assert await steps[PlayPrompts]("c1", play) is None
    assert ari.did("play")[0][2] == ["sound:/s/en/queue/periodic"]
    failing = handlers(FailingAri(play=NOT_FOUND, create_bridge=REFUSED)).handlers()
    assert await failing[PlayPrompts]("c1", play) == PlaybackFinished("p1", failed=True)
    failed = await failing[CreateBridge]("c1", CreateBridge("b", "n"))
    assert failed == CommandFailed("bridge", str(REFUSED))


async def test_the_contact_stays_with_its_call_until_forgotten() -> None:
    ari = FakeAri()
    queue = handlers(ari)
    steps = queue.handlers()
    callback = Originate("c1-r1", "", ("outbound", "resident", "c1"), "311", 30, callback=True)
    assert await steps[ReadContact]("c1", ReadContact("c1")) == ContactRead(True)
    assert NUMBER not in repr(queue.contacts)
    assert await steps[Originate]("c1", callback) is None
    assert ari.did("originate")[0][1] == f"PJSIP/t/sip:{NUMBER}@127.0.0.1:5099"
    queue.forget("c1")
    assert await steps[Originate]("c1", callback) == ChannelGone("c1-r1")


def test_a_failed_critical_step_or_a_caller_gone_on_hold_stops_the_batch() -> None:
    hold = HoldCaller("c1")
    assert stops_batch(hold, ChannelGone("c1"))
    assert stops_batch(AddToBridge("b", ("c1",)), CommandFailed("bridge", "x"))
    assert not stops_batch(
        Originate("c1-a1", "PJSIP/a", ("outbound",), "311", 15), ChannelGone("c1-a1")
    )
    assert not stops_batch(hold, None)


async def test_a_neutral_caller_id_is_one_request_and_a_quote_in_its_name_cannot_break_out() -> (
    None
):
    ari = FakeAri()
    steps = handlers(ari).handlers()
    hide = HideIdentity("c1", 'a "b" \\c', "311")
    assert await steps[HideIdentity]("c1", hide) is None
    assert ari.did("set_var") == [("set_var", "c1", "CALLERID(all)", '"a b c" <311>')]


async def test_given_asterisk_refuses_to_originate_a_ccrs_channel_then_it_is_gone_unreachable() -> (
    None
):
    steps = handlers(FailingAri(originate=REFUSED)).handlers()
    ring = Originate("c1-a1", "PJSIP/agent1", ("outbound", "agent", "c1"), "311", 15)
    assert await steps[Originate]("c1", ring) == ChannelGone("c1-a1", unreachable=True)
