"""Properties of the queued call (`line311.queue.leg`) over random event sequences.

Events are drawn from what the leg could plausibly hear next (its own channel and playback
ids, router replies, timers) plus strays, in any order: every (phase, event) pair is reached.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.commands import AcceptOffer, EmitQueueEvent, HangupChannel, Originate
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
from line311.queue.events import CallAbandoned, CallAnswered, CallCompleted, CallTimedOut
from line311.queue.leg import LegOptions, Phase, QueuedCall

T0 = 1_700_000_000.0
ENDS = (CallCompleted, CallAbandoned, CallTimedOut)


def _events(leg: QueuedCall) -> st.SearchStrategy[Any]:
    channels = st.sampled_from(
        [c for c in (leg.caller_channel, leg.agent_channel, leg.resident_channel,
                     leg.interpreter_channel) if c is not None] + ["c1", "stray"]
    )  # fmt: skip
    playbacks = st.sampled_from(
        [p for p in (leg.announcing, leg.confirming, leg.offer_playback, leg.goodbye) if p]
        + [f"{leg.agent_channel}-whisper", "other"]
    )
    return st.one_of(
        st.builds(
            AgentOffered,
            st.sampled_from(["agent1", "agent2"]),
            st.just("PJSIP/x"),
            st.integers(0, 2),
            st.booleans(),
        ),
        st.sampled_from(
            [
                OfferWithdrawn(),
                OfferAccepted(),
                OfferRefused(),
                CallerHungUp(),
                CallerHungUp(media_server_lost=True),
                Resumed(),
            ]
        ),
        st.builds(MaxWaitReached, st.floats(0, 600)),
        st.builds(ChannelUp, channels),
        st.builds(ChannelGone, channels),
        st.builds(ContactRead, st.booleans()),
        st.builds(
            PositionTold,
            st.one_of(st.none(), st.integers(1, 50)),
            st.one_of(st.none(), st.floats(0, 5000)),
        ),
        st.builds(CallbackGranted, st.booleans()),
        st.builds(DtmfReceived, st.sampled_from(["1", "2", "#"])),
        st.builds(PlaybackFinished, playbacks, st.booleans()),
        st.just(CommandFailed("bridge", "boom")),
        st.just("timer"),
    )


@settings(max_examples=120, deadline=None)
@given(st.data(), st.booleans(), st.integers(5, 40))
def test_any_event_sequence_keeps_the_leg_sound(
    data: st.DataObject, periodic: bool, steps: int
) -> None:
    options = LegOptions(
        announce_first=2, periodic_interval=30 if periodic else 0, max_wait_offer_timeout=5
    )
    leg = QueuedCall(
        "c1", "general", language="en", topic="general", whisper_topic="general",
        entered_at=T0, options=options,
    )  # fmt: skip
    now = T0
    ends = 0
    live_agents: set[str] = set()
    for _ in range(steps):
        now += data.draw(st.floats(0, 20), label="dt")
        event = data.draw(_events(leg), label="event")
        was_finished = leg.finished
        if event == "timer":
            deadline = leg.next_deadline()
            leg.handle_timer(now if deadline is None else max(now, deadline))
        else:
            leg.receive(event, now)
            if isinstance(event, ChannelGone):
                live_agents.discard(event.channel_id)
        commands = leg.commands()
        if was_finished:
            assert commands == []  # a finished leg is silent
        for command in commands:
            if isinstance(command, Originate) and command.app_args[1] == "agent":
                live_agents.add(command.channel_id)
            elif isinstance(command, Originate) and command.callback:
                # the resident is called back only once their own call is let go: their
                # phone is busy with it until then
                assert leg.caller_channel is None
            elif isinstance(command, HangupChannel):
                live_agents.discard(command.channel_id)
            elif isinstance(command, EmitQueueEvent) and isinstance(command.event, ENDS):
                ends += 1
        assert len(live_agents) <= 1  # at most one agent offer outstanding
        assert ends <= 1  # one end per leg
        assert leg.finished is (leg.phase is Phase.ENDED)
        if leg.finished:
            assert leg.channels() == {}
            assert leg.next_deadline() is None
        data_ = leg.to_dict()
        again = QueuedCall.from_dict(json.loads(json.dumps(data_)))
        assert again.to_dict() == data_
        assert again.commands() == []


_RACE = (
    "granted",
    "offered",
    "ccr answers",
    "confirmation ends",
    "whisper ends",
    "caller's channel gone",
    "resident answers",
)


@settings(max_examples=300, deadline=None)
@given(st.permutations(_RACE))
def test_a_callback_never_dials_the_resident_while_they_are_still_on_their_call(
    order: list[str],
) -> None:
    """The caller pressed 1 and gave their number; whatever the order in which the grant,
    the CCR's offer and answer, the end of the confirmation and of the whisper and the
    caller's hang-up come, the resident is called back only once their own call is let go,
    and the call is answered (put through or called back) at most once."""
    leg = QueuedCall(
        "c1", "general", language="en", topic="general", whisper_topic="general",
        entered_at=T0, options=LegOptions(),
    )  # fmt: skip
    leg.receive(DtmfReceived("1"), T0)
    leg.receive(ContactRead(True), T0)
    leg.commands()
    confirmation = whisper = resident = None
    answered = 0
    for n, step in enumerate(order, 1):
        now = T0 + n
        commands: list[Any] = []
        if step == "granted":
            leg.receive(CallbackGranted(True), now)
            confirmation = leg.confirming
        elif step == "offered":
            leg.receive(AgentOffered("agent1", "PJSIP/agent1"), now)
        elif step == "ccr answers" and leg.agent_channel is not None:
            leg.receive(ChannelUp(leg.agent_channel), now)
            commands = leg.commands()
            if any(isinstance(c, AcceptOffer) for c in commands):  # the router takes it
                leg.receive(OfferAccepted(), now)
            whisper = f"{leg.agent_channel}-whisper"
        elif step == "confirmation ends" and confirmation is not None:
            leg.receive(PlaybackFinished(confirmation), now)
        elif step == "whisper ends" and whisper is not None:
            leg.receive(PlaybackFinished(whisper), now)
        elif step == "caller's channel gone":
            leg.receive(ChannelGone("c1"), now)
        elif step == "resident answers" and resident is not None:
            leg.receive(ChannelUp(resident), now)
        for command in commands + leg.commands():
            if isinstance(command, Originate) and command.callback:
                assert leg.caller_channel is None, order
                resident = command.channel_id
            elif isinstance(command, EmitQueueEvent) and isinstance(command.event, CallAnswered):
                answered += 1
    assert answered <= 1
