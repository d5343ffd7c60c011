"""The queued call as a pure machine: feed events at a fake ``now``, read the commands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from line311.call.commands import (
    AcceptOffer,
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    EmitQueueEvent,
    HangupChannel,
    HideIdentity,
    HoldCaller,
    LeaveQueue,
    NoteInterpreterJoined,
    Originate,
    PlayPrompts,
    ReadContact,
    ReleaseAgent,
    RemoveFromBridge,
    RequestCallback,
    RingOut,
    StartMoh,
    StopMoh,
    StopPlayback,
    TellPosition,
)
from line311.call.events import (
    AgentOffered,
    CallbackGranted,
    CallerHungUp,
    ChannelGone,
    ChannelUp,
    CommandFailed,
    ContactRead,
    DtmfReceived,
    MaxWaitReached,
    OfferAccepted,
    OfferRefused,
    OfferWithdrawn,
    PlaybackFinished,
    PositionTold,
    Resumed,
)
from line311.call.values import OTHER_LANGUAGE
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallTimedOut,
)
from line311.queue.leg import TRANSITIONS, LegOptions, Phase, QueuedCall

T0 = 1_700_000_000.0
OPTIONS = LegOptions(
    ring_timeout=15,
    announce_first=5,
    announce_interval=45,
    periodic_interval=0,
    max_wait_offer_timeout=8,
    wrapup_seconds=10,
)


def new_leg(options: LegOptions = OPTIONS) -> QueuedCall:
    return QueuedCall(
        "c1", "general", language="es", topic="general", whisper_topic="general",
        entered_at=T0, options=options,
    )  # fmt: skip


def emitted(commands: list[Any], kind: type | None = None) -> list[Any]:
    out = [c.event for c in commands if isinstance(c, EmitQueueEvent)]
    return out if kind is None else [e for e in out if isinstance(e, kind)]


def feed(leg: QueuedCall, event: Any, now: float = T0) -> list[Any]:
    leg.receive(event, now)
    return list(leg.commands())


# ---------------------------------------------------------------------- reaching each phase
def ringing(interpreter: bool = False) -> QueuedCall:
    leg = new_leg()
    leg.commands()
    feed(leg, AgentOffered("agent1", "PJSIP/agent1", 0, interpreter))
    return leg


def whisper(interpreter: bool = False) -> QueuedCall:
    leg = ringing(interpreter)
    assert leg.agent_channel is not None
    feed(leg, ChannelUp(leg.agent_channel))
    feed(leg, OfferAccepted(), T0 + 3)
    return leg


def connected(interpreter: bool = False) -> QueuedCall:
    leg = whisper(interpreter)
    feed(leg, PlaybackFinished(f"{leg.agent_channel}-whisper"), T0 + 4)
    return leg


def callback_waiting() -> QueuedCall:
    leg = new_leg()
    leg.commands()
    feed(leg, DtmfReceived("1"))
    feed(leg, ContactRead(True))
    feed(leg, CallbackGranted(True))
    assert leg.confirming is not None
    feed(leg, PlaybackFinished(leg.confirming))
    return leg


def dialing() -> QueuedCall:
    leg = callback_waiting()
    feed(leg, AgentOffered("agent1", "PJSIP/agent1"), T0 + 100)
    assert leg.agent_channel is not None
    feed(leg, ChannelUp(leg.agent_channel), T0 + 100)
    feed(leg, OfferAccepted(), T0 + 100)
    feed(leg, PlaybackFinished(f"{leg.agent_channel}-whisper"), T0 + 101)
    return leg


def expired() -> QueuedCall:
    leg = new_leg()
    leg.commands()
    feed(leg, MaxWaitReached(61.0), T0 + 61)
    return leg


def ended() -> QueuedCall:
    leg = new_leg()
    leg.commands()
    feed(leg, ChannelGone("c1"))
    return leg


REACH = {
    Phase.WAITING: new_leg,
    Phase.RINGING: ringing,
    Phase.WHISPER: whisper,
    Phase.CONNECTED: connected,
    Phase.DIALING: dialing,
    Phase.EXPIRED: expired,
    Phase.ENDED: ended,
}


def every_event(leg: QueuedCall) -> list[Any]:
    channels = [leg.caller_channel, leg.agent_channel, leg.resident_channel, "stray"]
    playbacks = [leg.announcing, leg.confirming, leg.offer_playback, leg.goodbye, "other"]
    playbacks.append(f"{leg.agent_channel}-whisper")
    out: list[Any] = [
        AgentOffered("agent2", "PJSIP/agent2"),
        OfferWithdrawn(),
        OfferAccepted(),
        OfferRefused(),
        MaxWaitReached(70.0),
        ContactRead(True),
        ContactRead(False),
        PositionTold(2, 120.0),
        PositionTold(None),
        CallbackGranted(True),
        CallbackGranted(False),
        DtmfReceived("1"),
        DtmfReceived("5"),
        CommandFailed("bridge", "boom"),
        CallerHungUp(),
        CallerHungUp(media_server_lost=True),
        Resumed(),
    ]
    out += [ChannelUp(c) for c in channels if c is not None]
    out += [ChannelGone(c) for c in channels if c is not None]
    out += [PlaybackFinished(p) for p in playbacks if p is not None]
    return out


@pytest.mark.parametrize("phase", list(Phase))
def test_every_event_in_every_phase_transitions_or_is_ignored_and_the_state_round_trips(
    phase: Phase,
) -> None:
    assert REACH[phase]().phase is phase
    for event in every_event(REACH[phase]()):
        leg = REACH[phase]()
        leg.receive(event, T0 + 200)
        leg.handle_timer(T0 + 500)
        data = leg.to_dict()
        assert QueuedCall.from_dict(json.loads(json.dumps(data))).to_dict() == data
        if phase is Phase.ENDED:
            assert leg.commands() == []


def test_the_table_names_a_handler_for_each_pair_it_lists() -> None:
    assert all(callable(h) for h in TRANSITIONS.values())
    assert not any(phase is Phase.ENDED for phase, _ in TRANSITIONS)


# ---------------------------------------------------------------------- the paths
def test_a_new_leg_puts_the_caller_on_hold_and_announces_after_announce_first() -> None:
    leg = new_leg()
    assert leg.commands() == [HoldCaller("c1")]
    assert leg.next_deadline() == T0 + 5
    leg.handle_timer(T0 + 5)
    assert leg.commands() == [TellPosition()]
    assert leg.next_deadline() is None  # no second announcement while one is being made
    cmds = feed(leg, PositionTold(3, 200.0), T0 + 5)
    assert cmds[0] == StopMoh("c1")
    play = cmds[1]
    assert isinstance(play, PlayPrompts)
    assert play.prompts[0] == "queue/position"
    assert "queue/wait_about" in play.prompts
    assert play.prompts[-1] == "queue/callback_offer"
    assert feed(leg, PlaybackFinished(play.playback_id), T0 + 10) == [StartMoh("c1")]
    assert leg.next_deadline() == T0 + 50


@pytest.mark.parametrize(
    ("language", "estimate", "wait"),
    [
        ("en", 60.0, ["numbers/1", "queue/minute"]),  # "about one minute", not "minutes"
        ("en", 120.0, ["numbers/2", "queue/minutes"]),
        ("es", 60.0, ["minutes/1", "queue/minute"]),  # "unos un minuto"
        ("es", 1260.0, ["minutes/21", "queue/minutes"]),  # "veintiún minutos"
        ("ru", 120.0, ["minutes/2", "queue/minutes_few"]),  # "две минуты", not "два минут"
        ("ru", 1260.0, ["numbers/20", "minutes/1", "queue/minute"]),  # "двадцать одна минута"
        ("ru", 300.0, ["numbers/5", "queue/minutes"]),
        ("cmn", 120.0, ["minutes/2", "queue/minutes"]),  # 两分钟
    ],
)
def test_given_a_wait_estimate_then_the_minutes_agree_with_their_number_in_the_callers_language(
    language: str, estimate: float, wait: list[str]
) -> None:
    leg = QueuedCall(
        "c1", "general", language=language, topic="general", whisper_topic="general",
        entered_at=T0, options=OPTIONS,
    )  # fmt: skip
    leg.commands()
    leg.handle_timer(T0 + 5)
    leg.commands()
    (_, play) = feed(leg, PositionTold(3, estimate), T0 + 5)

    start = play.prompts.index("queue/wait_about") + 1
    assert list(play.prompts[start : start + len(wait)]) == wait
    assert play.prompts[start + len(wait)] == "queue/callback_offer"


def test_a_short_estimated_wait_and_a_periodic_message() -> None:
    leg = new_leg(LegOptions(announce_first=1, periodic_interval=30, announce_interval=100))
    leg.commands()
    leg.handle_timer(T0 + 1)
    leg.commands()
    (_, play) = feed(leg, PositionTold(1, 20.0), T0 + 1)
    assert "queue/wait_short" in play.prompts
    feed(leg, PlaybackFinished(play.playback_id), T0 + 2)
    leg.handle_timer(T0 + 30)
    (_, periodic) = leg.commands()
    assert periodic.prompts == ("queue/periodic", "queue/callback_offer")
    assert feed(leg, PositionTold(None), T0 + 31) == []  # nobody asked


def test_a_leg_saved_with_a_holding_bridge_by_an_earlier_version_still_leaves_it() -> None:
    old = ringing().to_dict()
    old["hold_bridge"] = "hold-c1"  # earlier versions put the caller in a holding bridge
    leg = QueuedCall.from_dict(old)
    agent = leg.agent_channel
    assert agent is not None
    feed(leg, ChannelUp(agent))
    (whisper,) = [c for c in feed(leg, OfferAccepted(), T0 + 3) if isinstance(c, PlayPrompts)]
    cmds = feed(leg, PlaybackFinished(whisper.playback_id), T0 + 4)
    assert cmds[-3:] == [
        RemoveFromBridge("hold-c1", "c1"),
        AddToBridge("conn-c1", ("c1", agent)),
        DestroyBridge("hold-c1"),
    ]


def test_a_position_for_a_call_that_left_the_line_is_not_announced() -> None:
    leg = new_leg()
    leg.commands()
    leg.handle_timer(T0 + 5)
    leg.commands()
    assert feed(leg, PositionTold(None), T0 + 5) == []


def test_answered_whispered_connected_then_the_caller_hangs_up() -> None:
    leg = ringing()
    agent = leg.agent_channel
    assert agent == "c1-a1"
    assert leg.next_deadline() == T0 + 15 + 3
    assert feed(leg, ChannelUp(agent)) == [AcceptOffer("agent1", callback=False)]
    assert feed(leg, ChannelUp(agent)) == [HangupChannel(agent)]  # a second StasisStart
    cmds = feed(leg, OfferAccepted(), T0 + 3)
    assert emitted(cmds) == [CallAnswered("c1", "general", T0 + 3, "agent1")]
    (whisper_play,) = [c for c in cmds if isinstance(c, PlayPrompts)]
    assert whisper_play.prompts == ("whisper/lang/es", "whisper/topic/general")
    assert whisper_play.max_wait == 15
    cmds = feed(leg, PlaybackFinished(whisper_play.playback_id), T0 + 4)
    assert cmds == [
        CreateBridge("conn-c1", "call-c1"),
        StopMoh("c1"),
        HideIdentity("c1", "311 es general", "311"),
        AddToBridge("conn-c1", ("c1", agent)),
    ]
    assert leg.phase is Phase.CONNECTED
    cmds = feed(leg, ChannelGone("c1"), T0 + 63)
    (done,) = emitted(cmds, CallCompleted)
    assert (done.talk_seconds, done.ended_by, done.wrapup_seconds) == (60, "caller", 10)
    assert ReleaseAgent("agent1") in cmds
    assert HangupChannel(agent) in cmds
    assert DestroyBridge("conn-c1") in cmds
    assert leg.finished
    assert leg.outcome == "answered"


def test_the_agent_hanging_up_ends_the_call_by_the_agent() -> None:
    leg = connected()
    cmds = feed(leg, ChannelGone(leg.agent_channel or ""), T0 + 10)
    (done,) = emitted(cmds, CallCompleted)
    assert done.ended_by == "agent"
    assert HangupChannel("c1") in cmds


def test_a_caller_hanging_up_during_the_whisper_ends_it_before_the_bridge() -> None:
    leg = whisper()
    cmds = feed(leg, ChannelGone("c1"), T0 + 5)
    assert emitted(cmds, CallCompleted)[0].ended_by == "caller"
    assert feed(leg, PlaybackFinished("c1-a1-whisper")) == []


def test_a_failed_bridge_ends_the_call_by_the_agent() -> None:
    leg = connected()
    cmds = feed(leg, CommandFailed("bridge", "gone"), T0 + 5)
    assert emitted(cmds, CallCompleted)[0].ended_by == "agent"


def test_with_an_interpreter_the_line_is_called_and_joins_the_bridge() -> None:
    leg = whisper(interpreter=True)
    cmds = feed(leg, PlaybackFinished(f"{leg.agent_channel}-whisper"), T0 + 4)
    (dial,) = [c for c in cmds if isinstance(c, Originate)]
    assert dial.app_args == ("outbound", "interpreter", "c1")
    assert feed(leg, ChannelUp(dial.channel_id)) == [
        NoteInterpreterJoined(),
        AddToBridge("conn-c1", (dial.channel_id,), critical=False),
    ]
    assert feed(leg, ChannelGone(dial.channel_id)) == []
    assert leg.phase is Phase.CONNECTED


def test_given_an_other_language_caller_then_english_prompts_and_the_interpreter_from_the_start() -> (
    None
):
    """0 at the language menu: the call's language is ``und`` (routing, records); the caller
    hears the queue's prompts in English, the CCR hears "Other language. General. An
    interpreter will join." and the interpreter line is dialled on connect."""
    leg = QueuedCall(
        "c1", "general", language=OTHER_LANGUAGE, topic="general", whisper_topic="general",
        entered_at=T0, options=OPTIONS,
    )  # fmt: skip
    leg.commands()
    leg.handle_timer(T0 + 5)
    leg.commands()
    cmds = feed(leg, PositionTold(2, 120.0), T0 + 5)
    (position,) = [c for c in cmds if isinstance(c, PlayPrompts)]
    assert position.language == "en"
    assert "numbers/2" in position.prompts
    feed(leg, PlaybackFinished(position.playback_id), T0 + 9)
    feed(leg, AgentOffered("agent1", "PJSIP/agent1", 0, True), T0 + 10)
    assert leg.agent_channel is not None
    feed(leg, ChannelUp(leg.agent_channel), T0 + 11)
    cmds = feed(leg, OfferAccepted(), T0 + 11)
    (whisper_play,) = [c for c in cmds if isinstance(c, PlayPrompts)]
    assert whisper_play.prompts == (
        "whisper/lang/und",
        "whisper/topic/general",
        "whisper/interpreter",
    )
    assert whisper_play.language == "en"
    cmds = feed(leg, PlaybackFinished(whisper_play.playback_id), T0 + 13)
    (dial,) = [c for c in cmds if isinstance(c, Originate)]
    assert dial.app_args == ("outbound", "interpreter", "c1")
    assert leg.language == OTHER_LANGUAGE
    assert QueuedCall.from_dict(json.loads(json.dumps(leg.to_dict()))).language == OTHER_LANGUAGE


def test_given_a_max_wait_for_an_other_language_caller_then_the_offer_is_in_english() -> None:
    leg = QueuedCall(
        "c1", "general", language=OTHER_LANGUAGE, topic="general", whisper_topic="general",
        entered_at=T0, options=OPTIONS,
    )  # fmt: skip
    leg.commands()
    (offer,) = [c for c in feed(leg, MaxWaitReached(600.0)) if isinstance(c, PlayPrompts)]
    assert (offer.prompts, offer.language) == (("queue/max_wait_offer",), "en")


def test_given_a_ccr_phone_that_cannot_be_rung_then_an_unreachable_ring_out_and_the_place_kept() -> (
    None
):
    leg = ringing()
    assert feed(leg, ChannelGone("c1-a1", unreachable=True), T0 + 1) == [
        RingOut("agent1", unreachable=True)
    ]
    assert leg.phase is Phase.WAITING
    assert feed(leg, AgentOffered("agent2", "PJSIP/agent2"))[0].channel_id == "c1-a2"


def test_given_our_own_hang_up_at_the_ring_deadline_then_a_miss_whatever_the_channel_said() -> None:
    leg = ringing()
    leg.handle_timer(T0 + 18)  # the phone never alerted: its channel is still Down
    assert leg.commands() == [HangupChannel("c1-a1")]
    assert feed(leg, ChannelGone("c1-a1", unreachable=True), T0 + 18) == [RingOut("agent1")]


def test_a_ring_out_hangs_up_then_the_call_keeps_its_place() -> None:
    leg = ringing()
    leg.handle_timer(T0 + 17)
    assert leg.commands() == []
    leg.handle_timer(T0 + 18)
    assert leg.commands() == [HangupChannel("c1-a1")]
    assert feed(leg, ChannelGone("c1-a1"), T0 + 18) == [RingOut("agent1")]
    assert leg.phase is Phase.WAITING
    assert feed(leg, AgentOffered("agent2", "PJSIP/agent2"))[0].channel_id == "c1-a2"


def test_a_withdrawn_or_stale_offer_hangs_the_ccr_up_and_waits_on() -> None:
    leg = ringing()
    assert feed(leg, OfferWithdrawn()) == [HangupChannel("c1-a1")]
    assert leg.phase is Phase.WAITING
    leg = ringing()
    assert feed(leg, OfferRefused()) == []  # nobody answered yet
    feed(leg, ChannelUp("c1-a1"))
    assert feed(leg, OfferRefused()) == [HangupChannel("c1-a1")]
    assert leg.phase is Phase.WAITING
    assert feed(leg, ChannelGone("c1-a1")) == []  # our own hang-up


def test_resumed_while_ringing_withdraws_the_offer_and_elsewhere_changes_nothing() -> None:
    leg = ringing()
    assert feed(leg, Resumed()) == [HangupChannel("c1-a1"), StartMoh("c1")]
    assert leg.phase is Phase.WAITING
    leg = connected()
    assert feed(leg, Resumed()) == []
    assert leg.phase is Phase.CONNECTED


def test_the_runners_caller_hung_up_is_the_callers_channel_gone() -> None:
    by_runner, by_channel = ringing(), ringing()
    assert feed(by_runner, CallerHungUp(), T0 + 12) == feed(by_channel, ChannelGone("c1"), T0 + 12)
    assert by_runner.to_dict() == by_channel.to_dict()
    assert by_runner.outcome == "abandoned"


@pytest.mark.parametrize("reach", [new_leg, ringing])
def test_given_a_caller_in_line_when_their_asterisk_is_lost_then_the_abandon_says_so(
    reach: Any,
) -> None:
    leg = reach()
    leg.commands()
    out = feed(leg, CallerHungUp(media_server_lost=True), T0 + 12)
    assert LeaveQueue() in out
    assert emitted(out) == [CallAbandoned("c1", "general", T0 + 12, media_server_lost=True)]
    assert HangupChannel("c1") not in out  # the channel is gone with its server
    assert leg.phase is Phase.ENDED
    assert leg.outcome == "abandoned"


@pytest.mark.parametrize("reach", [whisper, connected])
def test_given_a_conversation_when_the_callers_asterisk_is_lost_then_it_ends_naming_the_loss(
    reach: Any,
) -> None:
    leg = reach()
    out = feed(leg, CallerHungUp(media_server_lost=True), T0 + 30)
    [done] = emitted(out, CallCompleted)
    assert done.ended_by == "media_server_lost"
    assert ReleaseAgent("agent1") in out
    assert leg.phase is Phase.ENDED


def test_given_a_kept_callback_when_the_callers_asterisk_is_lost_then_it_keeps_its_place() -> None:
    leg = new_leg()
    leg.commands()
    feed(leg, DtmfReceived("1"))
    feed(leg, ContactRead(True))
    feed(leg, CallbackGranted(True))  # the confirmation still plays to the caller
    assert (leg.callback, leg.caller_channel) == (True, "c1")
    out = feed(leg, CallerHungUp(media_server_lost=True), T0 + 30)
    assert emitted(out) == []
    assert LeaveQueue() not in out
    assert (leg.phase, leg.caller_channel) == (Phase.WAITING, None)


def test_a_lost_event_for_a_leg_without_a_caller_channel_changes_nothing() -> None:
    leg = dialing()
    before = leg.to_dict()
    assert feed(leg, CallerHungUp(media_server_lost=True), T0 + 120) == []
    assert leg.to_dict() == before


def test_a_second_offer_while_ringing_is_ignored() -> None:
    leg = ringing()
    assert feed(leg, AgentOffered("agent2", "PJSIP/agent2")) == []


def test_a_caller_hanging_up_while_ringing_is_an_abandon_and_stops_the_ring() -> None:
    leg = ringing()
    cmds = feed(leg, ChannelGone("c1"), T0 + 12)
    assert cmds[0] == LeaveQueue()
    assert emitted(cmds) == [CallAbandoned("c1", "general", T0 + 12)]
    assert HangupChannel("c1-a1") in cmds
    assert leg.outcome == "abandoned"


def test_pressing_1_asks_for_a_callback_confirms_and_lets_the_caller_go() -> None:
    leg = new_leg()
    leg.commands()
    leg.handle_timer(T0 + 5)
    leg.commands()
    (_, play) = feed(leg, PositionTold(1, None), T0 + 5)
    assert feed(leg, DtmfReceived("1")) == [StopPlayback(play.playback_id), ReadContact("c1")]
    assert feed(leg, DtmfReceived("1")) == []  # already asking
    assert feed(leg, ContactRead(True)) == [RequestCallback()]
    cmds = feed(leg, CallbackGranted(True), T0 + 6)
    assert emitted(cmds) == [CallbackRequested("c1", "general", T0 + 6)]
    confirm = cmds[-1]
    assert confirm.prompts == ("queue/callback_confirmed",)
    assert feed(leg, PlaybackFinished(play.playback_id)) == []  # no music: confirming
    assert feed(leg, PlaybackFinished(confirm.playback_id)) == [HangupChannel("c1")]
    assert leg.next_deadline() is None  # a callback hears no announcements
    assert feed(leg, ChannelGone("c1")) == []  # our own hang-up


def _confirming_when_offered(granted_while_ringing: bool) -> tuple[QueuedCall, str]:
    """A caller pressed 1; their turn comes while they still hear the callback confirmation
    (the grant came before the offer, or while the CCR's phone was already ringing)."""
    leg = new_leg()
    leg.commands()
    feed(leg, DtmfReceived("1"), T0 + 10)
    feed(leg, ContactRead(True), T0 + 10)
    if granted_while_ringing:
        feed(leg, AgentOffered("agent1", "PJSIP/agent1"), T0 + 10)
    feed(leg, CallbackGranted(True), T0 + 10)
    confirming = leg.confirming
    assert confirming is not None
    if not granted_while_ringing:
        feed(leg, AgentOffered("agent1", "PJSIP/agent1"), T0 + 11)
    return leg, confirming


@pytest.mark.parametrize("granted_while_ringing", [False, True])
def test_given_a_caller_still_hearing_the_callback_confirmation_when_a_ccr_answers_then_they_are_put_through(
    granted_while_ringing: bool,
) -> None:
    # the CCR came before the caller was let go: calling the resident back then dialled the
    # very phone still on this call (busy: the callback failed as an abandon, or rang twice)
    leg, confirming = _confirming_when_offered(granted_while_ringing)
    agent = leg.agent_channel
    assert agent is not None
    cmds = feed(leg, ChannelUp(agent), T0 + 12)
    assert StopPlayback(confirming) in cmds
    # the screen pop, built on this answer wherever the router is, says so too
    assert cmds[-1] == AcceptOffer("agent1", callback=False)
    assert not leg.callback
    cmds = feed(leg, OfferAccepted(), T0 + 12)
    assert emitted(cmds) == [CallAnswered("c1", "general", T0 + 12, "agent1")]
    (whisper,) = [c for c in cmds if isinstance(c, PlayPrompts)]
    assert "whisper/callback" not in whisper.prompts
    assert feed(leg, PlaybackFinished(confirming), T0 + 12) == []  # the caller stays
    cmds = feed(leg, PlaybackFinished(whisper.playback_id), T0 + 14)
    assert AddToBridge("conn-c1", ("c1", agent)) in cmds
    assert not [c for c in cmds if isinstance(c, Originate)]  # nobody is called back
    assert leg.phase is Phase.CONNECTED
    cmds = feed(leg, ChannelGone("c1"), T0 + 74)
    assert emitted(cmds, CallCompleted)[0].talk_seconds == 62
    assert leg.outcome == "answered"
    assert leg.callback_at == T0 + 10  # the record still says a callback was asked for


def test_given_a_caller_put_through_from_the_confirmation_when_the_offer_was_stale_then_the_callback_stands() -> (
    None
):
    leg, _ = _confirming_when_offered(False)
    feed(leg, ChannelUp(leg.agent_channel or ""), T0 + 12)
    cmds = feed(leg, OfferRefused(), T0 + 12)
    assert leg.callback
    assert leg.phase is Phase.WAITING
    (confirm,) = [c for c in cmds if isinstance(c, PlayPrompts)]  # told again, then let go
    assert confirm.prompts == ("queue/callback_confirmed",)
    assert feed(leg, PlaybackFinished(confirm.playback_id), T0 + 16) == [HangupChannel("c1")]


def test_a_callback_without_a_contact_or_a_place_stays_in_line() -> None:
    leg = new_leg()
    leg.commands()
    feed(leg, DtmfReceived("1"))
    assert feed(leg, ContactRead(False)) == []
    assert not leg.callback
    feed(leg, DtmfReceived("1"))
    feed(leg, ContactRead(True))
    assert feed(leg, CallbackGranted(False)) == []
    assert not leg.callback
    assert feed(leg, CallbackGranted(True)) == []  # nobody asked


def test_the_resident_answers_the_callback_and_is_bridged() -> None:
    leg = dialing()
    assert leg.phase is Phase.DIALING
    resident = leg.resident_channel
    assert resident is not None
    cmds = feed(leg, ChannelUp(resident), T0 + 110)
    assert emitted(cmds) == [CallAnswered("c1", "general", T0 + 110, "agent1")]
    assert AddToBridge("conn-c1", (resident,)) in cmds
    cmds = feed(leg, ChannelGone(resident), T0 + 140)
    assert emitted(cmds, CallCompleted)[0].talk_seconds == 30


@pytest.mark.parametrize("who", ["resident", "agent"])
def test_a_callback_that_does_not_reach_the_resident_is_an_abandon(who: str) -> None:
    leg = dialing()
    channel = leg.resident_channel if who == "resident" else leg.agent_channel
    cmds = feed(leg, ChannelGone(channel or ""), T0 + 130)
    assert emitted(cmds, CallAbandoned)
    assert ReleaseAgent("agent1") in cmds
    assert leg.outcome == "abandoned"


@pytest.mark.parametrize("at", ["whisper", "dialing"])
def test_a_callback_whose_connection_fails_before_the_resident_is_in_is_an_abandon(
    at: str,
) -> None:
    leg = dialing()
    if at == "whisper":
        leg = callback_waiting()
        feed(leg, AgentOffered("agent1", "PJSIP/agent1"), T0 + 100)
        feed(leg, ChannelUp(leg.agent_channel or ""), T0 + 100)
        feed(leg, OfferAccepted(), T0 + 100)
        assert leg.phase is Phase.WHISPER
    cmds = feed(leg, CommandFailed("bridge", "boom"), T0 + 102)
    assert emitted(cmds) == [CallAbandoned("c1", "general", T0 + 102)]
    assert ReleaseAgent("agent1") in cmds
    assert leg.outcome == "abandoned"


def test_a_callback_whose_connection_fails_after_the_resident_answered_is_completed() -> None:
    leg = dialing()
    feed(leg, ChannelUp(leg.resident_channel or ""), T0 + 110)
    cmds = feed(leg, CommandFailed("bridge", "boom"), T0 + 112)
    assert emitted(cmds, CallCompleted)[0].talk_seconds == 2
    assert leg.outcome == "answered"


def test_a_callback_whose_contact_was_lost_gives_up_at_once() -> None:
    leg = callback_waiting()
    leg.has_contact = False
    feed(leg, AgentOffered("agent1", "PJSIP/agent1"))
    feed(leg, ChannelUp("c1-a2"))
    feed(leg, OfferAccepted())
    cmds = feed(leg, PlaybackFinished("c1-a2-whisper"))
    assert emitted(cmds, CallAbandoned)


def test_max_wait_then_1_readmits_the_call_as_a_callback() -> None:
    leg = expired()
    assert leg.phase is Phase.EXPIRED
    play = leg.offer_playback
    assert feed(leg, DtmfReceived("1")) == [StopPlayback(play or ""), ReadContact("c1")]
    assert feed(leg, ContactRead(True)) == [RequestCallback(at_max_wait=True)]
    cmds = feed(leg, CallbackGranted(True), T0 + 62)
    assert emitted(cmds) == [CallbackRequested("c1", "general", T0 + 62, at_max_wait=True)]
    assert leg.phase is Phase.WAITING
    assert leg.callback


def test_max_wait_without_an_answer_says_goodbye_then_hangs_up() -> None:
    leg = expired()
    assert feed(leg, PlaybackFinished(leg.offer_playback or "")) == []
    assert leg.next_deadline() == T0 + 8
    leg.handle_timer(T0 + 8)
    cmds = leg.commands()
    (timed_out,) = emitted(cmds)
    assert timed_out == CallTimedOut("c1", "general", T0 + 8, "max-wait", callback_offered=True)
    bye = cmds[-1]
    assert bye.prompts == ("queue/max_wait_goodbye",)
    assert leg.outcome == "timed_out"
    assert feed(leg, DtmfReceived("1")) == []
    cmds = feed(leg, PlaybackFinished(bye.playback_id))
    assert HangupChannel("c1") in cmds
    assert not any(isinstance(c, DestroyBridge) for c in cmds)  # no bridge: none to destroy
    assert leg.finished


@pytest.mark.parametrize("failure", [ContactRead(False), CallbackGranted(False)])
def test_max_wait_with_1_but_no_callback_possible_says_goodbye(failure: Any) -> None:
    leg = expired()
    feed(leg, PlaybackFinished(leg.offer_playback or ""))
    feed(leg, DtmfReceived("1"))
    if isinstance(failure, CallbackGranted):
        feed(leg, ContactRead(True))
    cmds = feed(leg, failure)
    assert emitted(cmds, CallTimedOut)
    feed(leg, ChannelGone("c1"))  # hung up during the goodbye: nothing left to tear down
    assert leg.finished


def test_hanging_up_during_the_max_wait_offer_is_a_timeout_after_an_offer() -> None:
    leg = expired()
    cmds = feed(leg, ChannelGone("c1"), T0 + 62)
    (timed_out,) = emitted(cmds)
    assert timed_out.callback_offered
    assert leg.outcome == "timed_out"


def test_max_wait_for_a_call_with_nobody_on_the_line_times_out_at_once() -> None:
    leg = new_leg()
    leg.commands()
    leg.caller_channel = None
    cmds = feed(leg, MaxWaitReached(61.0), T0 + 61)
    assert emitted(cmds) == [CallTimedOut("c1", "general", T0 + 61, "max-wait")]
    assert leg.finished


def test_a_kept_callback_that_the_router_times_out_ends_without_an_offer() -> None:
    leg = callback_waiting()
    cmds = feed(leg, MaxWaitReached(61.0), T0 + 61)
    assert emitted(cmds) == [CallTimedOut("c1", "general", T0 + 61, "max-wait")]
    assert leg.finished


def test_a_stray_channel_answering_is_hung_up() -> None:
    leg = new_leg()
    leg.commands()
    assert feed(leg, ChannelUp("someone")) == [HangupChannel("someone")]


def test_the_state_round_trips_mid_call_and_carries_on() -> None:
    leg = ringing()
    copy = QueuedCall.from_dict(json.loads(json.dumps(leg.to_dict())))
    assert copy.commands() == []
    assert copy.to_dict() == leg.to_dict()
    assert feed(copy, ChannelUp("c1-a1")) == [AcceptOffer("agent1", callback=False)]
    assert copy.channels() == {"c1": copy_role("caller"), "c1-a1": copy_role("agent")}


def copy_role(name: str) -> Any:
    from line311.queue.leg import Role

    return Role(name)


def test_resumed_while_waiting_the_caller_hears_music_again_and_a_cut_announcement_is_stopped() -> (
    None
):
    leg = QueuedCall("c1", "general", language="en", topic="general", whisper_topic="general",
                     entered_at=T0, options=LegOptions(announce_first=5, periodic_interval=0))  # fmt: skip
    leg.commands()
    assert feed(leg, Resumed()) == [StartMoh("c1")]
    leg.handle_timer(T0 + 5)  # the position announcement: the edge is asked
    leg.commands()
    leg.receive(PositionTold(2), T0 + 5)
    (playback,) = [c for c in leg.commands() if isinstance(c, PlayPrompts)]
    assert feed(leg, Resumed(), T0 + 6) == [StopPlayback(playback.playback_id), StartMoh("c1")]
    assert leg.announcing is None
    assert playback.playback_id not in leg.playing


def test_a_playback_whose_end_is_never_reported_ends_at_its_max_wait() -> None:
    leg = QueuedCall("c1", "general", language="en", topic="general", whisper_topic="general",
                     entered_at=T0, options=LegOptions(announce_first=5, periodic_interval=0))  # fmt: skip
    leg.commands()
    leg.handle_timer(T0 + 5)
    leg.commands()
    leg.receive(PositionTold(2), T0 + 5)
    (playback,) = [c for c in leg.commands() if isinstance(c, PlayPrompts)]
    assert leg.next_deadline() == T0 + 5 + playback.max_wait
    restored = QueuedCall.from_dict(leg.to_dict())  # the deadline is part of the state
    assert restored.next_deadline() == T0 + 5 + playback.max_wait
    restored.handle_timer(T0 + 5 + playback.max_wait)
    assert restored.commands() == [StartMoh("c1")]  # carried on as if it had ended
    assert restored.announcing is None
    assert restored.playing == {}


# ---------------------------------------------------------------------- resumed in the max-wait offer
def restarted(leg: QueuedCall) -> QueuedCall:
    """``leg`` as another process rebuilds it from its saved state."""
    return QueuedCall.from_dict(json.loads(json.dumps(leg.to_dict())))


def test_resumed_while_the_max_wait_offer_plays_it_is_played_again_and_1_still_keeps_the_place() -> (
    None
):
    leg = restarted(expired())
    old = leg.offer_playback
    assert old is not None
    cmds = feed(leg, Resumed(), T0 + 70)
    assert leg.phase is Phase.EXPIRED
    assert leg.offer_playback not in (None, old)
    assert cmds == [
        StopPlayback(old),
        PlayPrompts("c1", leg.offer_playback or "", ("queue/max_wait_offer",), "es"),
    ]
    assert old not in leg.playing  # its end will never be reported: no deadline kept for it
    assert feed(leg, DtmfReceived("1"), T0 + 71)[-1] == ReadContact("c1")
    assert feed(leg, ContactRead(True), T0 + 71) == [RequestCallback(at_max_wait=True)]
    feed(leg, CallbackGranted(True), T0 + 71)
    assert (leg.phase, leg.callback) == (Phase.WAITING, True)


def test_resumed_while_waiting_for_the_key_the_offer_is_played_again_with_the_full_time() -> None:
    leg = expired()
    feed(leg, PlaybackFinished(leg.offer_playback or ""), T0 + 65)
    assert leg.next_deadline() == T0 + 73
    leg = restarted(leg)
    cmds = feed(leg, Resumed(), T0 + 90)  # the answer time ran out while nobody listened
    assert [type(c) for c in cmds] == [PlayPrompts]
    assert leg.result is None
    assert leg.answer_deadline is None  # no goodbye before the offer has been heard again
    feed(leg, PlaybackFinished(leg.offer_playback or ""), T0 + 95)
    assert leg.next_deadline() == T0 + 103


def test_resumed_after_1_was_pressed_the_contact_is_read_again_without_asking_again() -> None:
    leg = expired()
    feed(leg, DtmfReceived("1"), T0 + 62)  # the answer to ReadContact is lost with the process
    leg = restarted(leg)
    assert feed(leg, Resumed(), T0 + 70) == [ReadContact("c1")]
    assert feed(leg, ContactRead(True), T0 + 70) == [RequestCallback(at_max_wait=True)]


def test_resumed_during_the_goodbye_lets_it_end() -> None:
    leg = expired()
    feed(leg, PlaybackFinished(leg.offer_playback or ""), T0 + 65)
    leg.handle_timer(T0 + 80)
    leg.commands()
    assert leg.goodbye is not None
    leg = restarted(leg)
    assert feed(leg, Resumed(), T0 + 90) == []
    assert leg.result == "timed_out"


def test_a_resumed_kept_callback_whose_contact_is_lost_ends_as_an_abandon() -> None:
    leg = restarted(callback_waiting())
    leg.has_contact = False  # the edge could not open the sealed contact
    cmds = feed(leg, Resumed(), T0 + 90)
    assert emitted(cmds) == [CallAbandoned("c1", "general", T0 + 90)]
    assert not any(isinstance(c, LeaveQueue) for c in cmds)  # the edge kept it out of line
    assert (leg.phase, leg.outcome) == (Phase.ENDED, "abandoned")
