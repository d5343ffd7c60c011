"""The runner against a scripted ARI client and the real CallSession (IVR kind)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from line311.ari.controller import Controller, ari_hangup_reason
from line311.ari.errors import (
    AriError,
    AriNotFound,
    AriServerError,
    AriUnknownResource,
    AriUnreachable,
)
from line311.ari.ivr_kind import ivr_kind
from line311.ari.kinds import CallStart, Ended, HandOver, SessionKind
from line311.ari.models import Bridge, Channel
from line311.ari.runner import Runner
from line311.call.commands import Answer, Enqueue, Hangup, Play
from line311.call.events import Answered, CallerHungUp, CommandFailed, DtmfReceived, Event
from line311.call.store import InMemorySessionStore
from line311.ivr.session import CallSession
from line311.privacy import caller_hash
from tests.unit.ari.fake_client import (
    CALLER_NUMBER,
    ScriptedAri,
    channel_event,
    in_app_channel,
    playback_event,
    stasis_start,
)

KEY = "test-key-0123456789abcdef"
PREFIX = "sound:/var/lib/line311/sounds"


class TickingClock:
    """Wall-clock seconds that move on 10 ms each time they are read."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        self.t += 0.01
        return self.t


class Harness:
    """A runner (IVR kind from ``factory``) on a scripted ARI; ``async with`` runs it."""

    def __init__(self, factory: Any = None, **kwargs: Any) -> None:
        self.ari = ScriptedAri()
        self.records: list[dict[str, Any]] = []
        self.reactions: list[tuple[str, float]] = []

        async def sink(record: dict[str, Any]) -> None:
            self.records.append(record)

        self.controller = Controller(
            self.ari,
            factory or (lambda cid, dialed, now: CallSession(cid, dialed, now)),
            sounds_uri_prefix=PREFIX + "/",
            caller_hash_key=KEY,
            record_sink=kwargs.pop("record_sink", sink),
            clock=kwargs.pop("clock", TickingClock()),
            observer=lambda op, s: self.reactions.append((op, s)),
            orphan_grace=kwargs.pop("orphan_grace", 0.01),
            **kwargs,
        )
        self._running = self.controller.running()

    async def __aenter__(self) -> Harness:
        await self._running.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._running.__aexit__(*exc)

    async def send(self, event: dict[str, Any]) -> None:
        await self.controller.on_event(event, asyncio.get_running_loop().time())


async def test_given_inbound_call_when_greeting_finishes_then_answered_played_hung_up_recorded():
    async with Harness() as h:
        await h.send(stasis_start("c1", "2126399675"))
        assert h.ari.calls == [
            ("answer", "c1"),
            ("play", "c1", f"{PREFIX}/en/greeting", "c1-p1"),
        ]
        assert h.controller.active_calls == 1
        await h.send(playback_event("PlaybackStarted", "c1", "c1-p1", "playing"))
        await h.send(playback_event("PlaybackFinished", "c1", "c1-p1", "done"))
        assert h.ari.calls[-1] == ("hangup", "c1", "normal")
        assert h.controller.active_calls == 0
        [record] = h.records
        assert record["call_id"] == "c1"
        assert record["dialed_number"] == "2126399675"
        assert record["caller_hash"] == caller_hash(CALLER_NUMBER, KEY)
        assert record["outcome"] == "completed"
        assert record["language"] == "en"
        assert record["path"]["prompts"][0]["prompt_id"] == "greeting"
        for key in ("started_at", "answered_at", "ended_at"):
            assert datetime.fromisoformat(record[key]).utcoffset().total_seconds() == 0
        assert record["started_at"] < record["answered_at"] < record["ended_at"]
        started = datetime.fromisoformat(record["started_at"]).timestamp()
        assert abs(record["path"]["started_at"] - started) < 1.0  # one wall clock, path included
        assert all(abs(p["at"] - started) < 60 for p in record["path"]["prompts"])
        assert CALLER_NUMBER not in json.dumps(record)


async def test_caller_number_is_never_logged(caplog: pytest.LogCaptureFixture):
    async with Harness() as h:
        with caplog.at_level(logging.DEBUG):
            await h.send(stasis_start("c1"))
            await h.send(playback_event("PlaybackFinished", "c1", "c1-p1"))
        assert CALLER_NUMBER not in caplog.text
        started = [r for r in caplog.records if r.getMessage().startswith("call started")]
        assert [getattr(r, "call_id", None) for r in started] == ["c1"]


async def test_given_play_fails_with_500_then_command_failed_and_call_hung_up():
    async with Harness() as h:
        h.ari.fail["play"] = AriServerError(500, "POST", "/channels/c1/play/c1-p1", "boom")
        await h.send(stasis_start("c1"))
        assert h.ari.names() == ["answer", "play", "hangup"]
        [record] = h.records
        assert record["outcome"] == "failed"
        assert "command-failed:Play:asterisk-server-error" in record["path"]["end_reason"]


async def test_given_asterisk_unreachable_at_answer_then_call_ends_failed_without_hanging():
    async with Harness() as h:
        h.ari.fail["answer"] = AriUnreachable("down")
        h.ari.fail["hangup"] = AriUnreachable("down")
        await h.send(stasis_start("c1"))
        assert h.controller.active_calls == 0
        assert h.records[0]["outcome"] == "failed"
        assert h.records[0]["answered_at"] is None


async def test_given_caller_hangs_up_during_greeting_then_abandoned_and_no_hangup_sent():
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        await h.send(channel_event("ChannelHangupRequest", "c1"))
        await h.send(channel_event("StasisEnd", "c1"))
        await h.send(channel_event("ChannelDestroyed", "c1"))
        assert "hangup" not in h.ari.names()
        assert [r["outcome"] for r in h.records] == ["abandoned"]


async def test_events_for_channels_without_a_call_are_ignored():
    async with Harness() as h:
        await h.send(channel_event("ChannelDtmfReceived", "nobody", digit="1"))
        await h.send(playback_event("PlaybackFinished", "nobody", "p"))
        assert h.ari.calls == []
        assert h.records == []


async def test_outbound_channels_are_not_treated_as_calls_and_unknown_kinds_are_hung_up():
    async with Harness() as h:
        await h.send(stasis_start("o1", kind="outbound"))
        await h.send(stasis_start("x1", kind="agent-feature"))
        assert h.ari.calls == [("hangup", "x1", "normal")]
        assert h.controller.active_calls == 0


async def test_a_second_stasis_start_for_a_known_channel_is_ignored():
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        await h.send(stasis_start("c1"))
        assert h.ari.names() == ["answer", "play"]


async def test_given_session_factory_raises_then_channel_is_hung_up(caplog):
    def broken(cid: str, dialed: str, now: float) -> CallSession:
        raise RuntimeError("bug")

    async with Harness(factory=broken) as h:
        with caplog.at_level(logging.ERROR):
            await h.send(stasis_start("c1"))
        assert h.ari.calls == [("hangup", "c1", "normal")]
        assert "could not create a call session" in caplog.text


class ScriptedSession:
    """A session that answers, then emits ``after_answer`` and ends (like an Enqueue)."""

    def __init__(self, after_answer: list[object], deadline: float | None = None) -> None:
        self._pending: list[object] = [Answer()]
        self._after = after_answer
        self._deadline = deadline
        self.received: list[Event] = []
        self.timers = 0
        self.finished = False
        self.outcome: str | None = None

    def receive(self, event: Event, now: float) -> None:
        self.received.append(event)
        if isinstance(event, Answered):
            self._pending.extend(self._after)
            self.finished = bool(self._after)
            self.outcome = "queued" if self._after else None

    def commands(self) -> list[object]:
        out, self._pending = self._pending, []
        return out

    def next_deadline(self) -> float | None:
        return None if self.finished else self._deadline

    def handle_timer(self, now: float) -> None:
        self.timers += 1
        self._pending.append(Hangup(reason="answer-timeout"))
        self.finished = True
        self.outcome = "failed"

    def record(self) -> dict[str, Any]:
        return {"language": "es", "nodes": []}

    def to_dict(self) -> dict[str, Any]:
        return {"received": len(self.received)}


async def test_unknown_command_fails_loudly_and_the_channel_is_not_left_hanging(caplog):
    session = ScriptedSession([Enqueue(language="es", topic="parking")])
    async with Harness(factory=lambda *a: session) as h:
        with caplog.at_level(logging.ERROR):
            await h.send(stasis_start("c1"))
        assert "cannot carry out Enqueue" in caplog.text
        assert CommandFailed(command="Enqueue", reason="unsupported-command") in session.received
        assert h.ari.names() == ["answer", "hangup"]
        assert h.records[0]["language"] == "es"
        assert h.records[0]["outcome"] == "queued"


async def test_a_registered_command_handler_takes_over_the_channel():
    session = ScriptedSession([Enqueue(language="es", topic="parking")])
    handled: list[tuple[str, object]] = []

    async def enqueue(channel_id: str, command: object) -> None:
        handled.append((channel_id, command))

    async with Harness(factory=lambda *a: session, command_handlers={Enqueue: enqueue}) as h:
        await h.send(stasis_start("c1"))
        assert handled == [("c1", Enqueue(language="es", topic="parking"))]
        assert h.ari.names() == ["answer"]


async def test_a_failing_command_handler_becomes_command_failed():
    session = ScriptedSession([Enqueue(language="es", topic="parking")])

    async def enqueue(channel_id: str, command: object) -> None:
        raise AriServerError(500, "POST", "/bridges/q", "")

    async with Harness(factory=lambda *a: session, command_handlers={Enqueue: enqueue}) as h:
        await h.send(stasis_start("c1"))
        assert CommandFailed("Enqueue", "asterisk-server-error") in session.received
        assert h.ari.names() == ["answer", "hangup"]


async def test_when_the_deadline_passes_then_handle_timer_runs_and_the_call_ends():
    loop = asyncio.get_running_loop()
    session = ScriptedSession([], deadline=loop.time() + 0.05)
    async with Harness(factory=lambda *a: session, clock=loop.time) as h:
        await h.send(stasis_start("c1"))
        assert h.controller.active_calls == 1
        for _ in range(100):
            if h.records:
                break
            await asyncio.sleep(0.01)
        assert session.timers == 1
        assert h.ari.calls[-1] == ("hangup", "c1", "normal")  # session reason mapped for ARI
        assert h.records[0]["outcome"] == "failed"


async def test_stopping_a_playback_that_already_ended_is_not_a_failure():
    session = ScriptedSession([])
    async with Harness(factory=lambda *a: session) as h:
        await h.send(stasis_start("c1"))
        from line311.call.commands import StopPlayback

        h.ari.fail["stop_playback"] = AriNotFound(404, "DELETE", "/playbacks/p", "")
        session._pending.append(StopPlayback("p"))
        await h.send(channel_event("ChannelDtmfReceived", "c1", digit="5"))
        assert not any(isinstance(e, CommandFailed) for e in session.received)


async def test_record_sink_failures_are_logged_not_raised(caplog: pytest.LogCaptureFixture):
    async def broken_sink(record: dict[str, Any]) -> None:
        raise ConnectionError("CRM down")

    async with Harness(record_sink=broken_sink) as h:
        with caplog.at_level(logging.WARNING):
            await h.send(stasis_start("c1"))
            await h.send(playback_event("PlaybackFinished", "c1", "c1-p1"))
        assert "could not deliver the call record" in caplog.text
        assert h.controller.active_calls == 0


async def test_reaction_times_are_reported_per_operation():
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        assert [op for op, _ in h.reactions] == ["answer", "play"]
        assert all(0 <= s < 5 for _, s in h.reactions)


async def test_given_reconnect_then_vanished_calls_end_callers_without_state_restart_and_leftovers_are_hung_up():
    async with Harness() as h:
        await h.send(stasis_start("gone"))
        await h.send(stasis_start("alive"))
        h.ari.channels = [
            in_app_channel("alive"),
            in_app_channel("orphan"),
            Channel(id="leg", dialplan_app="Stasis", dialplan_app_data="line311,outbound,x"),
            in_app_channel("other-app", app="someone-else"),
        ]
        h.ari.calls.clear()
        await h.controller.on_connected()
        assert ("hangup", "leg", "normal") in h.ari.calls
        assert ("answer", "orphan") in h.ari.calls  # a caller nobody knows: the IVR again
        assert ("play", "orphan", f"{PREFIX}/en/greeting", "orphan-p1") in h.ari.calls
        assert all(c[1:2] != ("other-app",) for c in h.ari.calls)
        assert all(c[1] != "alive" for c in h.ari.calls if c[0] == "hangup")
        assert [r["call_id"] for r in h.records] == ["gone"]
        assert h.records[0]["outcome"] == "abandoned"
        assert h.controller.active_calls == 2


async def test_given_reconnect_when_channels_without_state_are_talking_then_they_are_left_in_their_conversation():
    async with Harness() as h:
        h.ari.channels = [
            in_app_channel("caller"),
            Channel(id="agent", dialplan_app="Stasis", dialplan_app_data="line311,outbound,x"),
            in_app_channel("waiting"),
        ]
        h.ari.bridges = [
            Bridge(id="talk", bridge_type="mixing", channels=("caller", "agent")),
            Bridge(id="hold", bridge_type="holding", channels=("waiting",)),
        ]
        h.ari.calls.clear()
        await h.controller.on_connected()
        touched = {c[1] for c in h.ari.calls if len(c) > 1}
        assert not {"caller", "agent"} & touched, h.ari.calls
        assert ("answer", "waiting") in h.ari.calls  # alone on hold, no state: the IVR again


async def test_given_reconnect_when_bridges_cannot_be_listed_then_no_channel_counts_as_talking():
    async with Harness() as h:
        h.ari.channels = [in_app_channel("caller")]

        async def refuse() -> list[Bridge]:
            raise AriError("GET /bridges refused")

        h.ari.list_bridges = refuse  # type: ignore[method-assign]
        h.ari.calls.clear()
        await h.controller.on_connected()
        assert ("answer", "caller") in h.ari.calls


async def test_an_orphan_claimed_by_a_late_stasis_start_during_the_grace_is_kept():
    async with Harness(orphan_grace=0.05) as h:
        h.ari.channels = [in_app_channel("late")]
        resync = asyncio.create_task(h.controller.on_connected())
        await asyncio.sleep(0.01)
        await h.send(stasis_start("late"))
        await resync
        assert ("hangup", "late", "normal") not in h.ari.calls
        assert h.controller.active_calls == 1


async def test_run_reports_connection_and_stops_cleanly():
    async with Harness() as h:
        task = asyncio.create_task(h.controller.run())
        await asyncio.sleep(0)
        assert h.controller.connected
        h.ari.stop()
        await asyncio.wait_for(task, 1)
        assert not h.controller.connected


@pytest.mark.parametrize(
    ("reason", "ari"),
    [("normal", "normal"), ("busy", "busy"), ("playback-timeout", "normal"), ("", "normal")],
)
def test_session_hangup_reasons_map_to_ari_reasons(reason: str, ari: str):
    assert ari_hangup_reason(reason) == ari


# ---------------------------------------------------------------------- session kinds, store
def menu_flow() -> Any:
    from line311.ivr.flow import default_flow_path, load_flow_file

    return load_flow_file(default_flow_path())


def ivr_runner(ari: ScriptedAri, store: InMemorySessionStore, clock: Any, records: list) -> Any:
    flow = menu_flow()

    async def sink(record: dict[str, Any]) -> None:
        records.append(record)

    kind = ivr_kind(
        lambda start: CallSession(start.call_id, start.dialed_number, start.now, flow=flow),
        lambda state, facts: CallSession.from_dict(state, flow=flow),
        record_sink=sink,
    )
    return Runner(
        ari, [kind], sounds_uri_prefix=PREFIX, caller_hash_key=KEY, clock=clock, store=store
    )


async def test_given_a_runner_dropped_mid_prompt_when_a_second_runner_connects_then_it_replays_the_prompt_and_answers_keys():
    store = InMemorySessionStore()
    clock = TickingClock()
    first_ari, records = ScriptedAri(), []
    first = ivr_runner(first_ari, store, clock, records)
    async with first.running():
        await first.on_event(stasis_start("c1"), 0.0)
        await first.on_event(playback_event("PlaybackFinished", "c1", "c1-p1"), 0.0)
        assert first_ari.calls[-1][:2] == ("play", "c1")
        interrupted = first_ari.calls[-1][2]
        saved = await store.load("c1")
        assert saved is not None
        assert saved["kind"] == "ivr"
        assert saved["call"]["caller_hash"] == caller_hash(CALLER_NUMBER, KEY)
    # the first runner is gone (its process died): the call stays stored, nothing was said
    assert records == []
    assert await store.call_ids() == ["c1"]

    second_ari = ScriptedAri()
    second_ari.channels = [in_app_channel("c1")]
    second = ivr_runner(second_ari, store, clock, records)
    async with second.running():
        await second.on_connected()
        assert second.active_calls == 1
        assert second_ari.calls == [
            ("list_channels",),
            ("stop_playback", "c1-p2"),
            ("play", "c1", interrupted, "c1-p3"),
        ]
        session = second._calls["c1"].session
        while session.state.value == "playing":  # the rest of the node's prompts
            await second.on_event(
                playback_event("PlaybackFinished", "c1", second_ari.calls[-1][3]), 0.0
            )
        assert session.state.value == "collecting"
        node = session.node
        await second.on_event(channel_event("ChannelDtmfReceived", "c1", digit="*"), 0.0)
        assert second_ari.calls[-1][0] == "play"  # the caller is answered: the menu again
        assert session.node == node
        await second.on_event(channel_event("StasisEnd", "c1"), 0.0)
    [record] = records
    assert record["call_id"] == "c1"
    assert record["caller_hash"] == caller_hash(CALLER_NUMBER, KEY)
    assert record["answered_at"] is not None
    assert await store.call_ids() == []


async def test_given_a_stored_call_whose_channel_is_gone_when_a_runner_connects_then_it_is_recorded_as_ended():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    first = ivr_runner(ScriptedAri(), store, clock, records)
    async with first.running():
        await first.on_event(stasis_start("c1"), 0.0)
    second = ivr_runner(ScriptedAri(), store, clock, records)
    async with second.running():
        await second.on_connected()
    assert [r["outcome"] for r in records] == ["abandoned"]
    assert await store.call_ids() == []


async def test_given_state_that_cannot_be_resumed_when_a_runner_connects_then_the_ivr_starts_again():
    store = InMemorySessionStore()
    await store.save("c1", {"kind": "ivr", "state": {"schema": 0}, "call": {}})
    ari = ScriptedAri()
    ari.channels = [in_app_channel("c1")]
    runner = ivr_runner(ari, store, TickingClock(), [])
    async with runner.running():
        await runner.on_connected()
        assert ari.names() == ["list_channels", "answer", "play"]
        assert runner.active_calls == 1


async def test_a_call_is_saved_after_every_step_and_forgotten_when_it_ends():
    store = InMemorySessionStore()
    runner = ivr_runner(ScriptedAri(), store, TickingClock(), [])
    async with runner.running():
        await runner.on_event(stasis_start("c1"), 0.0)
        first = await store.load("c1")
        await runner.on_event(playback_event("PlaybackFinished", "c1", "c1-p1"), 0.0)
        second = await store.load("c1")
        assert first is not None
        assert second is not None
        assert first["state"] != second["state"]
        await runner.on_event(channel_event("StasisEnd", "c1"), 0.0)
        assert await store.load("c1") is None


class LegSession(ScriptedSession):
    """A second kind's session: plays hold music until the caller hangs up."""

    def __init__(self, cause: object) -> None:
        super().__init__([])
        self.cause = cause
        self._pending = [Play("c1-moh", "moh", "en")]

    def receive(self, event: Event, now: float) -> None:
        self.received.append(event)
        if isinstance(event, CallerHungUp):
            self.finished, self.outcome = True, "answered"

    def to_dict(self) -> dict[str, Any]:
        return {"leg": True}


async def test_given_a_handler_answers_hand_over_then_the_call_goes_on_as_the_other_kind():
    ivr_session = ScriptedSession([Enqueue(language="es", topic="parking")])
    legs: list[LegSession] = []
    ended: list[Ended] = []

    async def note(done: Ended) -> None:
        ended.append(done)

    def start_leg(start: CallStart) -> LegSession:
        legs.append(LegSession(start.cause))
        return legs[-1]

    async def enqueue(channel_id: str, command: object) -> HandOver:
        return HandOver("queue")

    kinds = [
        SessionKind(
            "ivr",
            start=lambda start: ivr_session,
            resume=lambda state, facts: ivr_session,
            accepts=lambda new: new.kind == "inbound",
            handlers={Enqueue: enqueue},
            ended=note,
        ),
        SessionKind("queue", start=start_leg, resume=lambda s, f: legs[0], ended=note),
    ]
    ari, store = ScriptedAri(), InMemorySessionStore()
    runner = Runner(ari, kinds, sounds_uri_prefix=PREFIX, caller_hash_key=KEY, store=store)
    async with runner.running():
        await runner.on_event(stasis_start("c1"), 0.0)
        assert [leg.cause for leg in legs] == [Enqueue(language="es", topic="parking")]
        assert ari.calls[-1] == ("play", "c1", f"{PREFIX}/en/moh", "c1-moh")
        assert (await store.load("c1")) == {
            "kind": "queue",
            "state": {"leg": True},
            "call": (await store.load("c1"))["call"],  # type: ignore[index]
        }
        await runner.on_event(channel_event("StasisEnd", "c1"), 0.0)
    assert [(e.outcome, e.handed_over) for e in ended] == [("queued", True), ("answered", False)]
    assert "hangup" not in ari.names()


async def test_given_an_attached_channel_then_its_events_reach_the_call_through_adopt():
    session = ScriptedSession([])
    seen: list[tuple[str, object]] = []

    def adopt(channel_id: str, event: object) -> Event | None:
        seen.append((channel_id, event))
        return DtmfReceived("1") if isinstance(event, CallerHungUp) else None

    kind = SessionKind(
        "x",
        start=lambda start: session,
        resume=lambda s, f: session,
        accepts=lambda new: True,
        adopt=adopt,
    )
    runner = Runner(ScriptedAri(), [kind], sounds_uri_prefix=PREFIX, caller_hash_key=KEY)
    async with runner.running():
        await runner.on_event(stasis_start("c1"), 0.0)
        runner.attach("agent", "c1")
        await runner.on_event(channel_event("StasisEnd", "agent"), 0.0)
        assert DtmfReceived("1") in session.received
        runner.detach("agent")
        await runner.on_event(channel_event("StasisEnd", "agent"), 0.0)
    assert len(seen) == 1


class EchoSession(ScriptedSession):
    """Plays a prompt for every digit; ends when the caller hangs up."""

    def receive(self, event: Event, now: float) -> None:
        self.received.append(event)
        if isinstance(event, DtmfReceived):
            self._pending.append(Play(f"p{event.digit}", "hello", "en"))
        elif isinstance(event, CallerHungUp):
            self.finished, self.outcome = True, "hung-up"


async def test_given_an_event_delivered_to_a_call_then_its_session_steps_on_it():
    session = EchoSession([])
    kind = SessionKind(
        "x", start=lambda start: session, resume=lambda s, f: session, accepts=lambda new: True
    )
    ari, store = ScriptedAri(), InMemorySessionStore()
    runner = Runner(ari, [kind], sounds_uri_prefix=PREFIX, caller_hash_key=KEY, store=store)
    async with runner.running():
        assert not await runner.deliver("c1", DtmfReceived("1"))  # no such call yet
        await runner.on_event(stasis_start("c1"), 0.0)
        assert await runner.deliver("c1", DtmfReceived("5"))
        assert DtmfReceived("5") in session.received
        assert ari.calls[-1] == ("play", "c1", f"{PREFIX}/en/hello", "p5")
        assert await store.load("c1") is not None  # saved after the step
        assert await runner.deliver("c1", CallerHungUp())
        assert not runner.holds("c1")
    assert "hangup" not in ari.names()  # the caller hung up: nothing to release


async def test_feeding_a_runner_that_is_not_running_is_refused():
    h = Harness()
    with pytest.raises(RuntimeError, match="not running"):
        await h.send(stasis_start("c1"))


class StuckSession(ScriptedSession):
    """A buggy session whose timer never moves on."""

    def handle_timer(self, now: float) -> None:
        self.timers += 1


async def test_given_a_session_that_never_leaves_its_deadline_then_the_call_ends_failed():
    session = StuckSession([], deadline=0.0)
    async with Harness(factory=lambda *a: session) as h:
        await h.send(stasis_start("c1"))
        for _ in range(100):
            if h.records:
                break
            await asyncio.sleep(0.01)
    assert session.timers == 1
    assert h.records[0]["outcome"] == "failed"
    assert h.ari.calls[-1] == ("hangup", "c1", "normal")


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_given_reconnect_when_the_asterisk_restarted_after_the_calls_began_then_they_are_recorded_lost_with_it(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO)
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        await h.send(stasis_start("c2"))
        h.ari.started = _at(1_700_000_100.0)  # the clock is near 1_700_000_000 at the start
        h.ari.channels = []
        await h.controller.on_connected()
        assert h.ari.info_requests == 1  # asked once per server, not per call
    assert sorted((r["call_id"], r["outcome"]) for r in h.records) == [
        ("c1", "media_server_lost"),
        ("c2", "media_server_lost"),
    ]
    assert {r["path"]["end_reason"] for r in h.records} == {"media-server-lost"}
    lost = [r.getMessage() for r in caplog.records if "lost with it" in r.getMessage()]
    assert len(lost) == 2
    assert all("media server asterisk" in m for m in lost)
    assert any("call c1:" in m for m in lost)
    assert CALLER_NUMBER not in caplog.text


@pytest.mark.parametrize("started", [None, _at(1_600_000_000.0)])
async def test_given_reconnect_when_the_asterisk_did_not_restart_since_the_call_began_then_it_is_a_hang_up(
    started: datetime | None,
):
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        h.ari.started = started
        h.ari.channels = []
        await h.controller.on_connected()
    assert [r["outcome"] for r in h.records] == ["abandoned"]


async def test_given_reconnect_when_the_asterisk_cannot_say_when_it_started_then_a_hang_up_is_recorded(
    caplog: pytest.LogCaptureFixture,
):
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        await h.send(stasis_start("c2"))
        h.ari.fail["media_server_started"] = AriUnreachable("GET", "/asterisk/info", "refused")
        h.ari.channels = []
        await h.controller.on_connected()
        assert h.ari.info_requests == 1  # the failure holds for the whole re-sync
    assert [r["outcome"] for r in h.records] == ["abandoned", "abandoned"]
    assert "cannot tell whether media server asterisk restarted" in caplog.text


async def test_given_reconnect_when_no_server_is_known_to_hold_the_channel_then_a_hang_up_is_recorded(
    caplog: pytest.LogCaptureFixture,
):
    async with Harness() as h:
        await h.send(stasis_start("c1"))
        h.ari.fail["media_server_of"] = AriUnknownResource("channel", "c1")
        h.ari.started = _at(1_700_000_100.0)
        h.ari.channels = []
        await h.controller.on_connected()
        assert h.ari.info_requests == 0
    assert [r["outcome"] for r in h.records] == ["abandoned"]
    assert "cannot tell whether its media server restarted" in caplog.text


async def test_given_a_stored_call_whose_asterisk_restarted_when_a_runner_connects_then_it_is_recorded_lost():
    store = InMemorySessionStore()
    clock, records = TickingClock(), []
    first = ivr_runner(ScriptedAri(), store, clock, records)
    async with first.running():
        await first.on_event(stasis_start("c1"), 0.0)
    second_ari = ScriptedAri()
    second_ari.started = _at(clock.t + 5)
    second = ivr_runner(second_ari, store, clock, records)
    async with second.running():
        await second.on_connected()
    assert [r["outcome"] for r in records] == ["media_server_lost"]
    assert await store.call_ids() == []


async def test_given_prompts_in_a_row_then_they_are_played_as_one_media_list() -> None:
    """The language menu's seven prompts and "for all other languages": one ``POST /play``
    with eight media URIs."""
    from line311.ivr.flow import default_flow

    flow = default_flow()
    async with Harness(
        factory=lambda cid, dialed, now: CallSession(cid, dialed, now, flow=flow)
    ) as h:
        await h.send(stasis_start("c1", "311"))
        await h.send(playback_event("PlaybackFinished", "c1", "c1-p1", "done"))
        _, channel, media, playback_id = h.ari.calls[-1]
        assert (channel, playback_id) == ("c1", "c1-p2")
        langs = ["en", "es", "cmn", "yue", "ru", "ko", "ht"]
        assert media == [
            *(f"{PREFIX}/{lang}/language_option" for lang in langs),
            f"{PREFIX}/en/language_other",
        ]


async def test_given_a_watcher_for_an_event_type_then_those_events_go_to_it_and_touch_no_call() -> (
    None
):
    ari = ScriptedAri()
    seen: list[dict[str, Any]] = []
    runner = Runner(
        ari, [], sounds_uri_prefix=PREFIX, caller_hash_key=KEY,
        watchers={"DeviceStateChanged": seen.append},
    )  # fmt: skip
    event = {"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/agent1"}}
    async with runner.running():
        await runner.on_event(event, 0.0)
        await runner.on_event({"type": "EndpointStateChange"}, 0.0)  # no watcher: ignored
    assert seen == [event]
    assert runner.active_calls == 0
