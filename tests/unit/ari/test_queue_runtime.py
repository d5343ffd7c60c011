"""The queue runtime against a scripted ARI: the real Router, real events, a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from line311.ari.errors import AriNotFound
from line311.ari.models import Channel
from line311.ari.queue_edge import QueueLogWriter
from line311.ari.queue_runtime import QueueRuntime
from line311.ari.queueing import QueueEventHub, QueueOptions
from line311.ari.translate import NewCall
from line311.call.commands import Enqueue
from line311.call.events import CallerHungUp, DtmfReceived
from line311.call.record import LegEnd, QueueLeg
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
from line311.routing.agents import AgentProfile, AutoPausePolicy
from line311.routing.queues import load_queues
from line311.routing.router import Router
from line311.routing.skills import SkillSet

NUMBER = "2125550199"


class FakeAri:
    """Records REST calls; playbacks finish at once; ``channels`` answer get_channel."""

    app = "line311"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self.gone: set[str] = set()

    def did(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]

    @contextlib.asynccontextmanager
    async def expect(
        self, kind: str | Iterable[str], *, playback_id: str | None = None, **_: Any
    ) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((playback_id or "", fut))
        yield fut

    def _check(self, channel_id: str) -> None:
        if channel_id in self.gone:
            raise AriNotFound(404, "POST", f"/channels/{channel_id}")

    async def answer(self, channel_id: str) -> None:
        self.calls.append(("answer", channel_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel(id=channel_id, caller_number=NUMBER)

    async def get_channel_var(self, channel_id: str, variable: str) -> str | None:
        return "127.0.0.1:5099"

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None:
        self.calls.append(("set_var", channel_id, variable, value))

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        self._check(channel_id)
        self.calls.append(("start_moh", channel_id))

    async def stop_moh(self, channel_id: str) -> None:
        self.calls.append(("stop_moh", channel_id))

    async def play(
        self, channel_id: str, media: str | Iterable[str], playback_id: str, lang: str | None = None
    ) -> None:
        uris = [media] if isinstance(media, str) else list(media)
        self.calls.append(("play", channel_id, uris, playback_id))
        for pid, fut in self._waiters:
            if pid == playback_id and not fut.done():
                fut.set_result({"playback": {"id": pid, "state": "done"}})

    async def stop_playback(self, playback_id: str) -> None:
        self.calls.append(("stop_playback", playback_id))

    async def originate(self, endpoint: str, channel_id: str, **kw: Any) -> None:
        self.calls.append(("originate", endpoint, channel_id, kw.get("app_args")))

    async def create_bridge(self, bridge_id: str, kind: str = "mixing", name: str = "") -> None:
        self.calls.append(("create_bridge", bridge_id, kind))

    async def add_channel(
        self, bridge_id: str, channel_id: Any, *, role: str | None = None
    ) -> None:
        self.calls.append(("add_channel", bridge_id, channel_id))

    async def remove_channel(self, bridge_id: str, channel_id: Any) -> None:
        self.calls.append(("remove_channel", bridge_id, channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.calls.append(("destroy_bridge", bridge_id))


QUEUES = load_queues({"general": {"requires": "topic:general", "wrapup_seconds": 10}})
EN = AgentProfile("agent1", "A", "PJSIP/agent1", SkillSet({"lang:en": 5, "topic:general": 3}))
ES = AgentProfile(
    "agent2", "B", "PJSIP/agent2", SkillSet({"lang:es": 5, "lang:en": 4, "topic:general": 3})
)


class Clock:
    """The injected clock: tests move ``now`` by hand."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


class Harness:
    """A runtime on the fake ARI with its task group open (``async with Harness() as h``);
    `settle` waits until every command handed to Asterisk has been carried out."""

    def __init__(
        self, tmp_path: Path | None = None, *, queues: Any = QUEUES, offer_timeout: float = 8.0
    ) -> None:
        self.clock = Clock(1_700_000_000.0)
        self.ari = FakeAri()
        self.events: list[object] = []
        self.legs: dict[str, QueueLeg] = {}
        self.saved: dict[str, dict[str, Any]] = {}
        self.router = Router(queues, auto_pause=AutoPausePolicy(after_misses=1))
        for p in (EN, ES):
            self.router.register_agent(p, self.now)
        hub = QueueEventHub(sinks=[self.events.append])
        self.log: QueueLogWriter | None = None
        if tmp_path is not None:
            self.log = QueueLogWriter(tmp_path / "queue_log")
            hub.subscribe(self.log)
        self.runtime = QueueRuntime(
            self.ari,
            self.router,
            QueueOptions(
                sounds_uri_prefix="sound:/s",
                announce_first=5,
                periodic_interval=0,
                max_wait_offer_timeout=offer_timeout,
            ),
            hub=hub,
            roster=["agent1", "agent2"],
            clock=self.clock,
            leg_sink=self.legs.__setitem__,
            save=self.saved.__setitem__,
            forget=self.saved.__delitem__,
        )
        self._running: contextlib.AbstractAsyncContextManager[Any] | None = None

    async def __aenter__(self) -> Harness:
        self._running = self.runtime.running()
        await self._running.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._running is not None
        await self.settle()
        await self._running.__aexit__(None, None, None)

    @property
    def now(self) -> float:
        return self.clock.t

    @now.setter
    def now(self, value: float) -> None:
        self.clock.t = value

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def settle(self) -> None:
        await self.runtime.idle()

    def step(self) -> None:
        self.runtime.step(self.now)

    async def lapse(self) -> None:
        """Let the legs' timers that are due now fire (e.g. an offer nobody answers)."""
        await self.settle()
        self.step()
        await self.settle()

    def offered(self) -> list[tuple[Any, ...]]:
        return [c for c in self.ari.did("originate") if c[3][1] == "agent"]

    async def answer(self, channel_id: str) -> None:
        await self.runtime.on_outbound(
            NewCall(channel_id, "outbound", "agent", args=("agent",)), self.now
        )
        await self.settle()

    async def hang(self, channel_id: str) -> None:
        await self.runtime.on_channel_event(channel_id, CallerHungUp(), self.now)
        await self.settle()

    def played(self, channel_id: str) -> list[str]:
        return [uri for c in self.ari.did("play") if c[1] == channel_id for uri in c[2]]


async def test_given_a_free_english_ccr_when_an_english_caller_enqueues_then_the_ccr_hears_the_whisper_and_both_are_bridged(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.agent_login("agent1")
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        assert ("create_bridge", "hold-c1", "holding") in h.ari.calls
        assert ("start_moh", "c1") in h.ari.calls
        h.step()
        await h.settle()
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
        assert ("set_var", "c1", "CALLERID(num)", "311") in h.ari.calls
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
        names = [r.event for r in parse_lines((tmp_path / "queue_log").read_text().splitlines())]
        assert names == ["AGENTLOGIN", "ENTERQUEUE", "CONNECT", "COMPLETECALLER"]


async def test_given_a_spanish_caller_when_only_the_english_ccr_is_free_then_nobody_is_offered_until_the_bilingual_ccr_logs_in() -> (
    None
):
    async with Harness() as h:
        h.runtime.agent_login("agent1")
        h.runtime.agent_login("agent2")
        h.runtime.agent_pause("agent2")
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        h.step()
        await h.settle()
        assert h.offered() == []
        h.runtime.agent_resume("agent2")
        h.step()
        await h.settle()
        ((_, endpoint, _, _),) = h.offered()
        assert endpoint == "PJSIP/agent2"


async def test_given_a_ringing_offer_when_the_ccr_does_not_answer_then_they_are_paused_and_the_call_keeps_its_place() -> (
    None
):
    async with Harness() as h:
        h.runtime.agent_login("agent1")
        h.runtime.agent_login("agent2")
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.step()
        await h.settle()
        ((_, first, leg, _),) = h.offered()
        assert first == "PJSIP/agent1"  # the better English skill
        await h.hang(leg)  # rang out
        paused = [e for e in h.of(AgentStateChanged) if e.state.value == "paused"]
        assert [(e.agent_id, e.reason) for e in paused] == [("agent1", "no-answer")]
        h.step()
        await h.settle()
        assert [c[1] for c in h.offered()] == ["PJSIP/agent1", "PJSIP/agent2"]
        assert h.router.position("c1") == 1


async def test_given_a_waiting_caller_when_they_hang_up_then_it_is_an_abandon_and_the_ringing_ccr_is_released() -> (
    None
):
    async with Harness() as h:
        h.runtime.agent_login("agent1")
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.step()
        await h.settle()
        ((_, _, leg, _),) = h.offered()
        h.now += 12
        await h.hang("c1")
        (abandon,) = h.of(CallAbandoned)
        assert abandon.at - h.of(CallEnqueued)[0].at == 12
        assert ("hangup", leg) in h.ari.calls
        assert h.router.agent("agent1").state.value == "available"
        assert not h.runtime.owns(leg)


async def test_given_no_free_ccr_when_the_caller_presses_1_then_the_call_keeps_its_place_and_the_resident_is_called_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    async with Harness() as h:
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.runtime.on_channel_event("c1", DtmfReceived(digit="1"), h.now)
        await h.settle()
        assert len(h.of(CallbackRequested)) == 1
        assert ("hangup", "c1") in h.ari.calls
        await h.hang("c1")  # our own hang-up comes back as an event: not an abandon
        assert h.of(CallAbandoned) == []
        h.now += 100
        h.runtime.agent_login("agent2")
        h.step()
        await h.settle()
        ((_, _, leg, _),) = h.offered()
        await h.answer(leg)
        assert h.of(CallAnswered) == []  # answered only when the resident is reached
        (resident,) = [c for c in h.ari.did("originate") if c[3][1] == "resident"]
        assert resident[1] == f"PJSIP/carrier/sip:{NUMBER}@127.0.0.1:5099"
        await h.runtime.on_outbound(
            NewCall(resident[2], "outbound", "resident", args=("resident",)), h.now
        )
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
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        await h.runtime.on_channel_event("c1", DtmfReceived(digit="1"), h.now)
        await h.settle()
        h.runtime.agent_login("agent1")
        h.step()
        await h.settle()
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
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        h.now += 5
        h.step()
        await h.settle()
        (play,) = [c for c in h.ari.did("play") if c[1] == "c1"]
        media = play[2]
        assert media[0] == "sound:/s/es/queue/position"
        assert media[-1] == "sound:/s/es/queue/callback_offer"
        assert h.ari.calls.count(("start_moh", "c1")) == 2  # music again after the message


def test_a_topic_without_its_own_queue_goes_to_the_general_queue() -> None:
    h = Harness()
    assert h.runtime.queue_for("sr_status") == "general"
    assert h.runtime.queue_for("general") == "general"


MAX_WAIT = load_queues({"general": {"requires": "topic:general", "max_wait": 60}})


async def test_given_max_wait_reached_when_the_caller_presses_1_then_the_call_takes_its_old_place_for_a_callback() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.runtime.enqueue("c1", Enqueue(language="ko", topic="general"))
        h.now += 30
        await h.runtime.enqueue("c2", Enqueue(language="en", topic="general"))
        h.now += 31
        h.step()
        await h.settle()
        assert h.played("c1") == ["sound:/s/ko/queue/max_wait_offer"]
        assert h.router.position("c2") == 1  # out of line while the offer plays
        await h.runtime.on_channel_event("c1", DtmfReceived(digit="1"), h.now)
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
        h.step()
        await h.settle()
        assert h.played("c2")[-1] == "sound:/s/en/queue/max_wait_offer"
        assert h.router.position("c1") == 1
        await h.hang("c2")
        h.runtime.agent_login("agent1")
        h.step()
        await h.settle()
        ((_, _, leg, args),) = h.offered()
        assert args == ("outbound", "agent", "c1")
        await h.answer(leg)
        assert [c for c in h.ari.did("originate") if c[3][1] == "resident"]


async def test_given_max_wait_reached_when_the_caller_does_not_press_1_then_they_hear_how_to_reach_us_and_are_hung_up() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=0) as h:
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        h.now += 61
        h.step()
        await h.lapse()  # the offer plays, nobody presses 1
        assert ("hangup", "c1") in h.ari.calls
        assert h.played("c1") == [
            "sound:/s/es/queue/max_wait_offer",
            "sound:/s/es/queue/max_wait_goodbye",
        ]
        (timed_out,) = h.of(CallTimedOut)
        assert (timed_out.reason, timed_out.callback_offered) == ("max-wait", True)
        assert h.of(CallbackRequested) == []
        assert ("destroy_bridge", "hold-c1") in h.ari.calls
        assert h.runtime.waiting_calls == 0
        await h.hang("c1")
        assert h.of(CallAbandoned) == []


async def test_given_the_max_wait_offer_when_the_caller_hangs_up_then_it_is_a_timeout_after_an_offer() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.now += 61
        h.step()
        await h.settle()
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
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        assert h.runtime.in_queue("c1")
        h.step()
        await h.settle()
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
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.now += 12
        await h.hang("c1")

        leg = h.legs["c1"]
        assert leg.end is LegEnd.ABANDONED
        assert leg.abandoned_at is not None
        assert leg.abandoned_at.timestamp() == h.now
        assert leg.wait_seconds == 12


async def test_given_a_kept_callback_then_the_leg_says_requested_and_kept() -> None:
    async with Harness() as h:
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        await h.runtime.on_channel_event("c1", DtmfReceived(digit="1"), h.now)
        await h.settle()
        await h.hang("c1")  # our own hang-up after the goodbye
        assert h.runtime.in_queue("c1")  # the place is kept: the leg goes on
        h.now += 100
        h.runtime.agent_login("agent2")
        h.step()
        await h.settle()
        ((_, _, agent_leg, _),) = h.offered()
        await h.answer(agent_leg)
        (resident,) = [c for c in h.ari.did("originate") if c[3][1] == "resident"]
        await h.runtime.on_outbound(
            NewCall(resident[2], "outbound", "resident", args=("resident",)), h.now
        )
        await h.settle()
        h.now += 30
        await h.hang(resident[2])

        leg = h.legs["c1"]
        assert leg.callback_requested_at is not None
        assert leg.callback_kept is True
        assert (leg.wait_seconds, leg.talk_seconds, leg.agent_id) == (100, 30, "agent2")


async def test_given_an_announcement_then_the_leg_keeps_the_position_told() -> None:
    async with Harness() as h:
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.now += 5
        h.step()
        await h.settle()
        open_leg = h.runtime.open_leg("c1")
        assert open_leg is not None
        assert [a.position for a in open_leg.announcements] == [1]
        assert open_leg.end is LegEnd.INTERRUPTED


async def test_given_max_wait_when_the_offer_is_declined_then_the_leg_timed_out_and_when_taken_it_goes_on() -> (
    None
):
    async with Harness(queues=MAX_WAIT, offer_timeout=0) as h:
        await h.runtime.enqueue("c1", Enqueue(language="es", topic="general"))
        h.now += 61
        h.step()
        await h.lapse()  # the offer plays, nobody presses 1
        assert "c1" in h.legs
        leg = h.legs["c1"]
        assert (leg.end, leg.wait_seconds) == (LegEnd.TIMED_OUT, 61)
        assert leg.timed_out_at is not None
        assert leg.callback_requested_at is None

    async with Harness(queues=MAX_WAIT, offer_timeout=30) as h:
        await h.runtime.enqueue("c2", Enqueue(language="en", topic="general"))
        h.now += 61
        h.step()
        await h.settle()
        await h.runtime.on_channel_event("c2", DtmfReceived(digit="1"), h.now)
        await h.settle()
        await h.hang("c2")  # our own hang-up after the confirmation
        assert h.legs == {}
        assert h.runtime.in_queue("c2")  # kept its place as a callback: the leg goes on
        open_leg = h.runtime.open_leg("c2")
        assert open_leg is not None
        assert open_leg.callback_requested_at is not None
