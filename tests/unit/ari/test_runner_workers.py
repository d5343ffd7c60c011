"""The runner's IVR-worker plumbing: broadcasts, `take`, `start_call`, and the re-sync's
claimed broadcast channels and follow-up (`after_resync`); on the scripted ARI."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from line311.ari import runner as runner_module
from line311.ari.ivr_kind import ivr_kind
from line311.ari.kinds import CallFacts, CallStart, SessionKind
from line311.ari.models import Channel
from line311.ari.runner import Runner
from line311.ari.translate import NewCall
from line311.call.commands import Answer, Enqueue
from line311.call.events import Event
from line311.call.store import InMemorySessionStore
from line311.ivr.session import CallSession
from tests.unit.ari.fake_client import ScriptedAri, in_app_channel
from tests.unit.ari.test_runner import KEY, PREFIX, TickingClock

ENQUEUE = Enqueue("en", "noise", 1)
BROADCAST_DATA = "500,^line311-w[0-9],inbound:311"


class Waiting:
    """A session that answers its channel once, then waits (a stand-in queued call)."""

    def __init__(self, call_id: str, cause: object, now: float) -> None:
        self.call_id = call_id
        self.cause = cause
        self.started = now
        self._commands: list[object] = [Answer()]
        self.events: list[Event] = []

    @property
    def finished(self) -> bool:
        return False

    @property
    def outcome(self) -> object:
        return None

    def receive(self, event: Event, now: float) -> None:
        self.events.append(event)

    def commands(self) -> Sequence[object]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "cause": repr(self.cause), "started": self.started}


WAITING = SessionKind(
    name="waiting",
    start=lambda start: Waiting(start.call_id, start.cause, start.now),
    resume=lambda state, facts: Waiting(str(state["call_id"]), state["cause"], 0.0),
)


def make_runner(ari: ScriptedAri, **kwargs: Any) -> Runner:
    records: list[dict[str, Any]] = []

    async def sink(record: dict[str, Any]) -> None:
        records.append(record)

    kind = ivr_kind(
        lambda start: CallSession(start.call_id, start.dialed_number, start.now),
        lambda state, facts: CallSession.from_dict(state),
        record_sink=sink,
    )
    return Runner(
        ari,
        [kind, WAITING],
        sounds_uri_prefix=PREFIX,
        caller_hash_key=KEY,
        clock=TickingClock(),
        store=kwargs.pop("store", InMemorySessionStore()),
        orphan_grace=0.01,
        **kwargs,
    )


def broadcast_channel(cid: str) -> Channel:
    return Channel(
        id=cid, state="Ring", dialplan_app="StasisBroadcast", dialplan_app_data=BROADCAST_DATA
    )


def facts(cid: str = "c1") -> CallFacts:
    return CallFacts(cid, cid, "2126399675", "hash-of-caller", 1_600_000_000.0, 1_600_000_001.0)


def start(cid: str = "c1") -> CallStart:
    return CallStart(cid, cid, "2126399675", 1_700_000_000.0, cause=ENQUEUE)


# ---------------------------------------------------------------------------- broadcasts
async def test_given_a_broadcast_handler_when_a_call_broadcast_comes_then_it_gets_it_and_translate_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    translated: list[object] = []

    async def on_broadcast(event: Any) -> None:
        seen.append(event)

    real_translate = runner_module.translate

    def spy(raw: Any) -> Any:
        translated.append(raw)
        return real_translate(raw)

    monkeypatch.setattr(runner_module, "translate", spy)
    ari = ScriptedAri()
    runner = make_runner(ari, broadcasts=on_broadcast)
    event = {"type": "CallBroadcast", "channel": {"id": "c1", "name": "PJSIP/x-c1"}}
    async with runner.running():
        await runner.on_event(event, 0.0)
    assert seen == [event]
    assert translated == []
    assert ari.calls == []
    assert runner.active_calls == 0


async def test_given_no_broadcast_handler_when_a_call_broadcast_comes_then_it_is_ignored() -> None:
    ari = ScriptedAri()
    runner = make_runner(ari)
    async with runner.running():
        await runner.on_event({"type": "CallBroadcast", "channel": {"id": "c1"}}, 0.0)
    assert ari.calls == []
    assert runner.active_calls == 0


# ---------------------------------------------------------------------------- take
async def test_given_a_hand_off_when_taken_then_a_session_of_that_kind_runs_with_the_given_facts_and_is_saved() -> (
    None
):
    ari = ScriptedAri()
    store = InMemorySessionStore()
    runner = make_runner(ari, store=store)
    async with runner.running():
        assert await runner.take("waiting", start("c1"), facts("c1"))
        assert runner.holds("c1")
        assert runner.active_calls == 1
        assert runner.calls_handled == 1
        assert ari.calls == [("answer", "c1")]  # stepped: its first commands ran
        saved = await store.load("c1")
        assert saved is not None
        assert saved["kind"] == "waiting"
        assert saved["state"]["cause"] == repr(ENQUEUE)
        assert saved["call"] == facts("c1").to_dict()


async def test_given_the_channel_is_held_already_when_taken_again_then_refused() -> None:
    ari = ScriptedAri()
    runner = make_runner(ari)
    async with runner.running():
        assert await runner.take("waiting", start("c1"), facts("c1"))
        assert not await runner.take("waiting", start("c1"), facts("c1"))
        assert runner.active_calls == 1
        assert ari.calls == [("answer", "c1")]


async def test_given_a_draining_runner_when_a_hand_off_is_taken_then_refused() -> None:
    ari = ScriptedAri()
    store = InMemorySessionStore()
    runner = make_runner(ari, store=store)
    async with runner.running():
        await runner.drain()
        assert not await runner.take("waiting", start("c1"), facts("c1"))
        assert runner.active_calls == 0
    assert ari.calls == []
    assert await store.load("c1") is None


async def test_given_a_runner_not_running_when_a_hand_off_is_taken_then_refused() -> None:
    runner = make_runner(ScriptedAri())
    assert not await runner.take("waiting", start("c1"), facts("c1"))


# ---------------------------------------------------------------------------- start_call
async def test_given_a_lost_hand_off_when_its_call_is_started_again_then_its_ivr_runs() -> None:
    ari = ScriptedAri()
    runner = make_runner(ari)
    new = NewCall(channel_id="c1", kind="inbound", dialed_number="311", caller_number="2125550123")
    async with runner.running():
        await runner.start_call(new, 0.0)
        assert runner.holds("c1")
        assert ari.names() == ["answer", "play"]
        await runner.start_call(new, 0.0)  # a second time: ignored like a repeated StasisStart
        assert ari.names() == ["answer", "play"]


# ---------------------------------------------------------------------------- re-sync
async def test_given_broadcast_orphans_when_resynced_then_only_the_claimed_ones_start_again() -> (
    None
):
    ari = ScriptedAri()
    ari.app = "line311-w1"
    ari.channels = [broadcast_channel("mine"), broadcast_channel("theirs")]
    asked: list[str] = []

    async def claims() -> set[str]:
        asked.append("claims")
        return {"mine"}

    runner = make_runner(ari, claims=claims)
    async with runner.running():
        await runner.on_connected()
        assert asked == ["claims"]
        assert runner.holds("mine")
        assert not runner.holds("theirs")
        touched = {c[1] for c in ari.calls if len(c) > 1}
        assert touched == {"mine"}  # "theirs" is another worker's: not even hung up
        assert ("answer", "mine") in ari.calls


async def test_given_the_claims_cannot_be_read_when_resynced_then_no_broadcast_orphan_is_taken_but_others_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = ScriptedAri()
    ari.app = "line311-w1"
    ari.channels = [broadcast_channel("b1"), in_app_channel("plain", app="line311-w1")]

    async def claims() -> set[str]:
        raise ConnectionError("redis down")

    runner = make_runner(ari, claims=claims)
    with caplog.at_level(logging.WARNING, logger="line311.ari.reconcile"):
        async with runner.running():
            await runner.on_connected()
            assert not runner.holds("b1")
            assert runner.holds("plain")  # a Stasis channel in its own app is its own
    assert "cannot read the claimed channels" in caplog.text
    assert all(c[1:2] != ("b1",) for c in ari.calls)


async def test_given_broadcast_channels_when_the_controller_resyncs_then_they_are_not_its_own() -> (
    None
):
    ari = ScriptedAri()  # app "line311": the broadcast's filter is for the workers' apps
    ari.channels = [broadcast_channel("b1")]
    runner = make_runner(ari)
    async with runner.running():
        await runner.on_connected()
        assert not runner.holds("b1")
    assert ari.names() == ["list_channels"]


async def test_given_an_after_resync_hook_then_it_gets_the_listed_channel_ids() -> None:
    ari = ScriptedAri()
    ari.channels = [in_app_channel("c1"), Channel(id="other", dialplan_app="Dial")]
    got: list[set[str]] = []

    async def after(listed: set[str]) -> None:
        got.append(listed)

    runner = make_runner(ari, after_resync=after)
    async with runner.running():
        await runner.on_connected()
    assert got == [{"c1", "other"}]


async def test_given_the_after_resync_hook_fails_then_it_is_logged_and_the_resync_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = ScriptedAri()
    ari.channels = [in_app_channel("orphan")]

    async def after(listed: set[str]) -> None:
        raise RuntimeError("sweep failed")

    runner = make_runner(ari, after_resync=after)
    with caplog.at_level(logging.ERROR, logger="line311.ari.reconcile"):
        async with runner.running():
            await runner.on_connected()
            assert runner.holds("orphan")  # the orphan is still taken up after it
    assert "the re-sync's follow-up failed" in caplog.text
    assert "sweep failed" in caplog.text
