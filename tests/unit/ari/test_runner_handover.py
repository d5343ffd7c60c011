"""The runner's graceful stop (`Runner.drain`): calls handed over, channels untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from line311.ari.runner import Runner
from line311.call.store import InMemorySessionStore
from tests.unit.ari.fake_client import (
    ScriptedAri,
    channel_event,
    in_app_channel,
    playback_event,
    stasis_start,
)
from tests.unit.ari.test_runner import TickingClock, ivr_runner


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """A bounded poll for state owned by another task."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by another task
            await asyncio.sleep(0.01)


async def test_given_a_call_mid_prompt_when_the_runner_drains_then_its_channel_is_untouched_and_the_next_runner_resumes_it():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    ari = ScriptedAri()
    first = ivr_runner(ari, store, clock, records)
    async with first.running():
        await first.on_event(stasis_start("c1"), 0.0)
        await first.on_event(playback_event("PlaybackFinished", "c1", "c1-p1"), 0.0)
        interrupted = ari.calls[-1][2]
        made = len(ari.calls)
        assert await first.drain() == 1
        assert first.active_calls == 0
        assert first.accepting is False
        # frozen: no event steps it, a new call is left alone, nothing is sent to Asterisk
        await first.on_event(channel_event("ChannelDtmfReceived", "c1", digit="1"), 0.0)
        await first.on_event(stasis_start("c2"), 0.0)
        assert ari.calls[made:] == []
    assert records == []  # no record: the call is not over, it is handed over
    assert await store.call_ids() == ["c1"]

    second_ari = ScriptedAri()
    second_ari.channels = [in_app_channel("c1")]
    second = ivr_runner(second_ari, store, clock, records)
    async with second.running():
        await second.on_connected()
        assert second.active_calls == 1
        assert second_ari.calls[-1][:3] == ("play", "c1", interrupted)


async def test_given_another_runner_already_drives_the_calls_then_drain_without_save_leaves_the_store_alone():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    runner = ivr_runner(ScriptedAri(), store, clock, records)
    async with runner.running():
        await runner.on_event(stasis_start("c1"), 0.0)
        newer = {"kind": "ivr", "state": {"saved by": "the new controller"}, "call": {}}
        await store.save("c1", newer)
        assert await runner.drain(save=False) == 1
        assert await store.load("c1") == newer
    assert records == []


async def test_given_a_runner_draining_with_save_then_each_call_state_is_stored_again():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    runner = ivr_runner(ScriptedAri(), store, clock, records)
    async with runner.running():
        await runner.on_event(stasis_start("c1"), 0.0)
        await store.delete("c1")  # e.g. a save that failed while Redis was away
        assert await runner.drain() == 1
        saved = await store.load("c1")
        assert saved is not None
        assert saved["kind"] == "ivr"
    assert records == []


async def test_given_the_client_stops_as_its_application_was_replaced_then_run_hands_the_calls_over_untouched():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    ari = ScriptedAri()
    runner = ivr_runner(ari, store, clock, records)
    task = asyncio.create_task(runner.run())
    await wait_for(lambda: runner.connected)
    await runner.on_event(stasis_start("c1"), 0.0)
    made = len(ari.calls)
    entry = await store.load("c1")
    ari.stop()  # what AriClient.run does on ApplicationReplaced: it returns
    await asyncio.wait_for(task, 5)
    assert runner.active_calls == 0
    assert runner.accepting is False
    assert ari.calls[made:] == []  # no hang-up, no stop: the channel is the new owner's
    assert await store.load("c1") == entry  # not re-saved over the new owner's state
    assert records == []


async def test_given_a_key_pressed_before_the_next_runner_resumed_the_call_then_it_is_answered_after_the_resume():
    """A rolling takeover: the new runner's events flow before its re-sync has resumed the
    stored calls; a key pressed then is kept and handled once the call is resumed."""
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    ari = ScriptedAri()
    first = ivr_runner(ari, store, clock, records)
    async with first.running():
        await first.on_event(stasis_start("c1"), 0.0)
        await first.on_event(playback_event("PlaybackFinished", "c1", "c1-p1"), 0.0)
        assert await first.drain() == 1
    saved = await store.load("c1")
    assert saved is not None

    async def next_runner(early: list[dict[str, Any]]) -> tuple[Runner, ScriptedAri]:
        own = InMemorySessionStore()
        await own.save("c1", saved)
        next_ari = ScriptedAri()
        next_ari.channels = [in_app_channel("c1")]
        runner = ivr_runner(next_ari, own, clock, records)
        async with runner.running():
            for event in early:
                await runner.on_event(event, 0.0)
            await runner.on_connected()
            await runner.drain()
        return runner, next_ari

    _, plain = await next_runner([])
    keyed_runner, keyed = await next_runner([channel_event("ChannelDtmfReceived", "c1", digit="1")])

    assert keyed.calls[: len(plain.calls)] == plain.calls  # resumed as without the key
    assert len(keyed.calls) > len(plain.calls)  # then the key was answered
    # after the first re-sync, an event for a channel nobody holds is dropped again
    async with keyed_runner.running():
        await keyed_runner.on_event(channel_event("ChannelDtmfReceived", "zz", digit="1"), 0.0)
    assert keyed_runner._held == []
