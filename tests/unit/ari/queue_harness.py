"""The queued call as a runner kind on a scripted ARI: the real `Runner`, the real `Router`,
real events, a fake clock. Every step is awaited to its end (the fake ARI answers at once and
its playbacks end when `Harness.settle` reports them), so nothing waits on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from line311.ari.contact_seal import ContactSeal
from line311.ari.errors import AriError, AriNotFound
from line311.ari.kinds import CallStart, SessionKind
from line311.ari.models import Channel
from line311.ari.queue_edge import QueueLogWriter
from line311.ari.queue_kind import QueueKind
from line311.ari.queueing import QueueEventHub, QueueOptions
from line311.ari.runner import Runner
from line311.call.commands import Enqueue
from line311.call.record import QueueLeg
from line311.call.store import InMemorySessionStore
from line311.routing.agents import AgentProfile, AutoPausePolicy
from line311.routing.queues import load_queues
from line311.routing.router import Router
from line311.routing.skills import SkillSet
from tests.unit.ari.fake_client import FakeMediaServer

NUMBER = "2125550199"
CONTACT_KEY = "test-contact-key-0123456789"
NOT_FOUND = AriNotFound(404, "POST", "/channels/x")
REFUSED = AriError(500, "POST", "/bridges/x")


class FakeAri(FakeMediaServer):
    """Records REST calls; playbacks finish at once; ``channels`` answer get_channel."""

    app = "line311"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self.gone: set[str] = set()
        self.playing: list[tuple[str, str]] = []
        """(channel, playback id) of playbacks whose end is not reported yet."""
        self.channels: list[Channel] = []
        self.started: datetime | None = None
        self.info_requests = 0
        self.fail: dict[str, Exception] = {}
        self.connected = True

    async def list_channels(self) -> list[Channel]:
        return list(self.channels)

    async def list_bridges(self) -> list[Any]:
        return []

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
        self.playing.append((channel_id, playback_id))
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


class FailingAri(FakeAri):
    def __init__(self, **fail: AriError) -> None:
        super().__init__()
        self.fail = fail

    def __getattribute__(self, name: str) -> Any:
        fail = object.__getattribute__(self, "__dict__").get("fail", {})
        if name in fail:

            async def refuse(*args: Any, **kw: Any) -> None:
                self.calls.append((name, *args))
                raise fail[name]

            return refuse
        return object.__getattribute__(self, name)


QUEUES = load_queues({"general": {"requires": "topic:general", "wrapup_seconds": 10}})
MAX_WAIT = load_queues({"general": {"requires": "topic:general", "max_wait": 60}})
"""A queue whose callers are offered a callback after 60 s (`Harness.past_max_wait`)."""
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


class _Enqueuing:
    """A stand-in IVR session: it asks for a queue at once (the IVR's ``Enqueue``)."""

    def __init__(self, command: Enqueue) -> None:
        self._command: Enqueue | None = command

    finished = property(lambda self: self._command is None)
    outcome = "queued"

    def receive(self, event: object, now: float) -> None: ...

    def commands(self) -> Sequence[object]:
        out, self._command = self._command, None
        return [] if out is None else [out]

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None: ...

    def to_dict(self) -> dict[str, Any]:
        return {}


def _raw(kind: str, channel_id: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "application": "line311", "channel": {"id": channel_id}, **more}


class Harness:
    """A runner with the ``queue`` kind on the fake ARI, its task group open (``async with
    Harness() as h``). ``store``: share one to carry calls on in a second harness."""

    def __init__(
        self,
        tmp_path: Path | None = None,
        *,
        queues: Any = QUEUES,
        offer_timeout: float = 8.0,
        store: InMemorySessionStore | None = None,
        ari: FakeAri | None = None,
        now: float = 1_700_000_000.0,
        contact_key: str | None = CONTACT_KEY,
    ) -> None:
        self.clock = Clock(now)
        self.ari = ari if ari is not None else FakeAri()
        self.events: list[object] = []
        self.legs: dict[str, QueueLeg] = {}
        self.restored: list[dict[str, Any]] = []
        self.router = Router(queues, auto_pause=AutoPausePolicy(after_misses=1))
        for p in (EN, ES):
            self.router.register_agent(p, self.now)
        hub = QueueEventHub(sinks=[self.events.append])
        self.log: QueueLogWriter | None = None
        if tmp_path is not None:
            self.log = QueueLogWriter(tmp_path / "queue_log")
            self.log.follow(hub)
        self.runtime = QueueKind(
            self.ari,  # type: ignore[arg-type]
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
            contact_seal=ContactSeal(contact_key) if contact_key else None,
        )
        self.runtime.on_restored_record = lambda r: self.restored.append(dict(r))
        self.store = store if store is not None else InMemorySessionStore()
        self._asked: dict[str, Enqueue] = {}
        entry = SessionKind(
            name="ivr",
            start=self._start_ivr,
            resume=lambda state, facts: _Enqueuing(Enqueue()),
            accepts=lambda new: new.kind == "inbound",
            handlers={Enqueue: self.runtime.enqueue},
        )
        self.runner = Runner(
            self.ari,  # type: ignore[arg-type]
            [entry, self.runtime.session_kind()],
            sounds_uri_prefix="sound:/s",
            caller_hash_key="k",
            clock=self.clock,
            store=self.store,
            monotonic=lambda: 0.0,
            orphan_grace=0.0,
        )
        self.runtime.bind(self.runner)
        self._running: contextlib.AbstractAsyncContextManager[Any] | None = None

    def _start_ivr(self, start: CallStart) -> _Enqueuing:
        return _Enqueuing(self._asked.pop(start.call_id))

    async def __aenter__(self) -> Harness:
        self._running = self.runner.running()
        await self._running.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._running is not None
        await self._running.__aexit__(None, None, None)
        if self.log is not None:
            self.log.close()  # its writer thread

    @property
    def now(self) -> float:
        return self.clock.t

    @now.setter
    def now(self, value: float) -> None:
        self.clock.t = value

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def stored(self, call_id: str) -> dict[str, Any] | None:
        """The whole state the runner last saved for the call (None: not stored)."""
        text = self.store._entries.get(call_id)
        return None if text is None else dict(json.loads(text)["state"])

    def saved(self, call_id: str) -> dict[str, Any] | None:
        """The leg's state as the runner last saved it (None: not stored)."""
        text = self.store._entries.get(call_id)
        return None if text is None else dict(json.loads(text)["state"]["leg"])

    # ------------------------------------------------------------------ driving
    async def event(self, raw: dict[str, Any]) -> None:
        await self.runner.on_event(raw, 0.0)
        await self.settle()

    async def enqueue(self, channel_id: str, command: Enqueue) -> None:
        """A caller whose IVR asks for a queue (the IVR's ``Enqueue``)."""
        self._asked[channel_id] = command
        await self.event(
            _raw("StasisStart", channel_id, args=["inbound", "311"])
            | {"channel": {"id": channel_id, "caller": {"number": NUMBER}}}
        )

    async def settle(self) -> None:
        """Report the end of every playback started so far (Asterisk's PlaybackFinished)."""
        while self.ari.playing:
            channel_id, playback_id = self.ari.playing.pop(0)
            raw = {
                "type": "PlaybackFinished",
                "playback": {
                    "id": playback_id,
                    "target_uri": f"channel:{channel_id}",
                    "state": "done",
                },
            }
            await self.runner.on_event(raw, 0.0)

    async def step(self) -> None:
        """The router's turn (offers, expiries), then the calls' timers due now; every
        playback started meanwhile is reported finished (`settle`)."""
        await self.runtime.step()
        await self.runner.tick()
        await self.settle()

    async def lapse(self) -> None:
        """Let the calls' timers that are due now fire (e.g. an offer nobody answers)."""
        await self.step()

    def offered(self) -> list[tuple[Any, ...]]:
        return [c for c in self.ari.did("originate") if c[3][1] == "agent"]

    # ------------------------------------------------------------------ arranging
    async def ring(self, call_id: str = "c1", *, agent: str = "agent1") -> str:
        """``agent`` logs in, an English ``general`` caller ``call_id`` enqueues and the
        router's turn offers it to them: the agent leg, ringing (the only offer so far)."""
        self.runtime.agent_login(agent)
        await self.enqueue(call_id, Enqueue(language="en", topic="general"))
        await self.step()
        ((_, _, leg, _),) = self.offered()
        return str(leg)

    async def connect(self, call_id: str = "c1", *, agent: str = "agent1") -> str:
        """`ring`, and the CCR answers at once: the caller and ``agent`` talk."""
        leg = await self.ring(call_id, agent=agent)
        await self.answer(leg)
        return leg

    async def past_max_wait(self, call_id: str, language: str) -> None:
        """``call_id`` (``general``) enqueues, nobody takes it for 61 s and the calls' turn
        comes: past `MAX_WAIT`'s 60 s, the callback offer starts."""
        await self.enqueue(call_id, Enqueue(language=language, topic="general"))
        self.now += 61
        await self.step()

    async def answer(self, channel_id: str) -> None:
        """A channel we originated answered (its StasisStart)."""
        await self.event(_raw("StasisStart", channel_id, args=["outbound", "agent"]))

    async def hang(self, channel_id: str) -> None:
        await self.event(_raw("StasisEnd", channel_id))

    async def key(self, channel_id: str, digit: str) -> None:
        await self.event(_raw("ChannelDtmfReceived", channel_id, digit=digit))

    def played(self, channel_id: str) -> list[str]:
        return [uri for c in self.ari.did("play") if c[1] == channel_id for uri in c[2]]

    def holds(self, channel_id: str) -> bool:
        """True while the runner routes ``channel_id``'s events to a queued call."""
        return channel_id in self.runner._channels


def channels(*ids: str) -> list[Channel]:
    return [Channel(id=i) for i in ids]


__all__ = ["MAX_WAIT", "NUMBER", "AsyncIterator", "FakeAri", "Harness", "Iterable", "asyncio"]
