"""The queue kind tells the desk about an answer before the whisper and the bridge."""

from __future__ import annotations

from line311.call.commands import Enqueue
from line311.queue.pops import AnsweredCall
from tests.unit.ari.queue_harness import Harness, _raw


async def test_given_a_ccr_who_answers_then_the_answer_hook_runs_before_the_whisper_and_the_bridge() -> (
    None
):
    async with Harness() as h:
        answers: list[AnsweredCall] = []

        def hook(answered: AnsweredCall) -> None:
            answers.append(answered)
            h.ari.calls.append(("pop", answered.call_id))

        h.runtime.on_answer = hook
        h.runtime.agent_login("agent2")
        await h.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.step()
        await h.settle()
        ((_, _, agent_leg, _),) = h.offered()
        h.now += 4.5
        await h.answer(agent_leg)
        (answered,) = answers
        assert answered == AnsweredCall(
            "c1", "agent2", "general", "es", "general", h.now - 4.5, h.now, False, False, ()
        )
        calls = h.ari.calls
        popped = calls.index(("pop", "c1"))
        whisper = next(i for i, c in enumerate(calls) if c[0] == "play" and c[1] == agent_leg)
        bridged = calls.index(("add_channel", "conn-c1", ["c1", agent_leg]))
        assert popped < whisper < bridged


async def test_a_ccr_answering_a_stale_offer_gets_no_pop() -> None:
    async with Harness() as h:
        answers: list[AnsweredCall] = []
        h.runtime.on_answer = answers.append
        h.runtime.agent_login("agent1")
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        await h.step()
        await h.settle()
        ((_, _, agent_leg, _),) = h.offered()
        await h.hang("c1")  # the caller gives up while the phone rings
        await h.answer(agent_leg)
        assert answers == []


async def test_a_caller_put_through_from_the_callback_confirmation_pops_as_no_callback() -> None:
    # their turn came while they still heard "we will call you back": put through at once,
    # nobody is called back, so the CCR's pop must not say callback (docs/queues.md)
    async with Harness() as h:
        answers: list[AnsweredCall] = []
        h.runtime.on_answer = answers.append
        await h.enqueue("c1", Enqueue(language="en", topic="general"))
        await h.runner.on_event(_raw("ChannelDtmfReceived", "c1", digit="1"), 0.0)
        assert h.router.waiting_call("c1").callback  # the place is kept as a callback's
        assert h.ari.playing  # the confirmation plays: the caller is still on the line
        h.runtime.agent_login("agent1")
        await h.runtime.step()
        ((_, _, agent_leg, _),) = h.offered()
        await h.runner.on_event(_raw("StasisStart", agent_leg, args=["outbound", "agent"]), 0.0)
        (answered,) = answers
        assert (answered.call_id, answered.callback) == ("c1", False)
        await h.settle()
        assert ("add_channel", "conn-c1", ["c1", agent_leg]) in h.ari.calls  # put through
        assert not [c for c in h.ari.did("originate") if c[3][1] == "resident"]
