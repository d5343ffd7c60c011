"""The supervisor line as a session kind of the runner, against a scripted ARI and a stand-in
alert store: the runner drives the session (answer, prompts, PIN check), saves its state in
its session store after every step, deletes it at the end, and turns ARI failures into
`CommandFailed`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from line311.ari.errors import AriNotFound, AriUnreachable
from line311.ari.runner import Runner
from line311.ari.supervisor_kind import accepts, line_of, supervisor_kind
from line311.ari.translate import NewCall
from line311.call.store import InMemorySessionStore
from line311.messaging.alert_store import PhoneLockout
from line311.messaging.pins import hash_pin

T0 = 1_750_000_000.0
PREFIX = "sound:/sounds"
KEY = "test-key-0123456789abcdef"


class FakeAri:
    app = "line311"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, Exception] = {}
        self.changed = asyncio.Event()
        self.connected = False
        self._stop = asyncio.Event()
        self.up = asyncio.Event()

    def _do(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        self.changed.set()
        if name in self.fail:
            raise self.fail[name]

    async def run(self, on_event: Any, on_connected: Any = None) -> None:
        self.connected = True
        self.up.set()
        try:
            await self._stop.wait()
        finally:
            self.connected = False

    def stop(self) -> None:
        self._stop.set()

    async def list_bridges(self) -> list[Any]:
        return list(getattr(self, "bridges", []))

    async def list_channels(self) -> list[Any]:
        return []

    def media_server_of(self, channel_id: str) -> str:
        return "asterisk"

    async def media_server_started(self, server: str) -> None:
        return None  # the server does not say: a vanished channel is a hang-up

    async def answer(self, channel_id: str) -> None:
        self._do("answer", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._do("hangup", channel_id)

    async def play(self, channel_id: str, media: Any, playback_id: str, lang: Any = None) -> None:
        self._do("play", (playback_id, [media] if isinstance(media, str) else list(media)))

    async def stop_playback(self, playback_id: str) -> None:
        self._do("stop_playback", playback_id)

    async def delete_stored_recording(self, name: str) -> None:
        self._do("delete", name)

    async def wait_for(self, name: str, count: int = 1) -> Any:
        async with asyncio.timeout(5):
            while len([c for c in self.calls if c[0] == name]) < count:
                self.changed.clear()
                await self.changed.wait()
        return [c[1] for c in self.calls if c[0] == name][count - 1]


@dataclass
class Supervisor:
    username: str
    pin_hash: str


class FakeStore:
    def __init__(self) -> None:
        self.lockouts: dict[str, PhoneLockout] = {}

    def lockout(self, line: str) -> PhoneLockout:
        return self.lockouts.get(line, PhoneLockout(line, 0, None))

    def save_lockout(self, lockout: PhoneLockout, now: datetime) -> None:
        self.lockouts[lockout.line] = lockout

    def supervisor_by_phone_id(self, phone_id: str) -> Supervisor | None:
        return Supervisor("maria", hash_pin("9876", rounds=1000)) if phone_id == "1234" else None


class FakeService:
    def __init__(self) -> None:
        self.store = FakeStore()


class FixedClock:
    def now(self) -> float:
        return T0


class WatchedStore(InMemorySessionStore):
    """The runner's session store, remembering what was saved and deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []
        self.broken = False
        self.gone = asyncio.Event()

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        if self.broken:
            raise OSError("disk full")
        self.saved.append((call_id, dict(entry)))
        await super().save(call_id, entry)

    async def delete(self, call_id: str) -> None:
        self.deleted.append(call_id)
        self.gone.set()
        await super().delete(call_id)


class Harness:
    def __init__(self) -> None:
        self.ari = FakeAri()
        self.store = WatchedStore()
        self.service = FakeService()
        kind = supervisor_kind(
            self.ari,  # type: ignore[arg-type]
            self.service,  # type: ignore[arg-type]
            clock=FixedClock(),
        )
        self.runner = Runner(
            self.ari,  # type: ignore[arg-type]
            [kind],
            sounds_uri_prefix=PREFIX + "/",
            caller_hash_key=KEY,
            clock=FixedClock(),
            store=self.store,
            orphan_grace=0.01,
        )

    async def event(self, kind: str, **body: Any) -> None:
        await self.runner.on_event({"type": kind, **body}, 0.0)

    async def start(self, channel: str = "c1", name: str = "PJSIP/agent3-0000001a") -> None:
        await self.event(
            "StasisStart", args=["agent-feature", "*80"], channel={"id": channel, "name": name}
        )

    async def digits(self, keys: str, channel: str = "c1") -> None:
        for k in keys:
            await self.event("ChannelDtmfReceived", digit=k, channel={"id": channel})

    async def until_gone(self) -> None:
        async with asyncio.timeout(5):
            await self.store.gone.wait()


async def test_given_a_call_then_it_is_answered_prompted_saved_and_forgotten_when_it_ends():
    h = Harness()
    async with h.runner.running():
        await h.start("c1")
        assert h.runner.active_calls == 1
        assert await h.ari.wait_for("answer") == "c1"
        _, media = await h.ari.wait_for("play")
        assert media == [f"{PREFIX}/en/sup_enter_id"]
        await h.digits("1234#8642#")
        _, media = await h.ari.wait_for("play", 3)
        assert media == [f"{PREFIX}/en/sup_wrong_pin"]
        assert h.service.store.lockouts["PJSIP/agent3"].failures == 1
        await h.event("StasisEnd", channel={"id": "c1"})
        await h.until_gone()
    assert [call_id for call_id, _ in h.store.saved] == ["c1"] * len(h.store.saved)
    assert h.store.saved[0][1]["kind"] == "supervisor"
    assert h.store.saved[0][1]["state"]["state"] == "enter_id"
    assert "8642" not in repr(h.store.saved)
    assert h.store.deleted == ["c1"]
    assert len(h.store) == 0
    assert ("hangup", "c1") not in h.ari.calls  # the caller hung up


async def test_given_asterisk_refuses_a_playback_then_the_line_hangs_up():
    h = Harness()
    h.ari.fail["play"] = AriUnreachable("down")
    async with h.runner.running():
        await h.start("c1")
        assert await h.ari.wait_for("hangup") == "c1"
        await h.until_gone()
    assert h.store.deleted == ["c1"]


async def test_given_a_playback_already_over_when_stopped_then_the_call_carries_on():
    h = Harness()
    h.ari.fail["stop_playback"] = AriNotFound(404, "DELETE", "/playbacks/x")
    async with h.runner.running():
        await h.start("c1")
        await h.ari.wait_for("play")
        await h.digits("1234#")
        _, media = await h.ari.wait_for("play", 2)
        assert media == [f"{PREFIX}/en/sup_enter_pin"]
    assert h.store.deleted == []  # left running: its state stays for the next process
    assert await h.store.call_ids() == ["c1"]


async def test_given_a_channel_gone_after_a_reconnect_then_its_call_ends():
    h = Harness()
    async with h.runner.running():
        await h.start("c1")
        await h.ari.wait_for("play")
        await h.runner.on_connected()  # Asterisk lists no channel
        await h.until_gone()
    assert h.store.deleted == ["c1"]


async def test_given_events_of_other_channels_then_they_are_ignored():
    h = Harness()
    async with h.runner.running():
        await h.start("c1")
        await h.ari.wait_for("play")
        await h.digits("1", channel="c2")
        await h.event("ChannelVarset", channel={"id": "c1"})
    assert [name for name, _ in h.ari.calls] == ["answer", "play"]


async def test_given_the_runner_is_not_running_then_a_call_is_refused():
    h = Harness()
    with pytest.raises(RuntimeError, match="not running"):
        await h.start("c1")


async def test_given_run_then_stopping_the_client_stops_it():
    h = Harness()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(h.runner.run())
        async with asyncio.timeout(5):
            await h.ari.up.wait()
        await h.start("c1")
        await h.ari.wait_for("play")
        h.ari.stop()
    assert h.runner.active_calls == 0


async def test_given_the_store_fails_when_saving_then_the_call_goes_on():
    h = Harness()
    h.store.broken = True
    async with h.runner.running():
        await h.start("c1")
        await h.ari.wait_for("play")
        await h.digits("1234#")
        _, media = await h.ari.wait_for("play", 2)
        assert media == [f"{PREFIX}/en/sup_enter_pin"]
    assert ("hangup", "c1") not in h.ari.calls


def test_given_agent_features_then_only_the_supervisor_code_is_the_lines():
    assert accepts(NewCall("c1", "agent-feature", "*80", args=("*80",)))
    assert not accepts(NewCall("c1", "agent-feature", "*81", args=("*81",)))
    assert not accepts(NewCall("c1", "inbound", "311", args=("311",)))


def test_given_a_channel_name_then_the_line_is_its_endpoint():
    assert line_of("PJSIP/agent3-0000001a") == "PJSIP/agent3"
    assert line_of("Local/x") == "Local/x"
