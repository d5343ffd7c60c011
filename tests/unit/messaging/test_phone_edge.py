"""The supervisor line's edge against a scripted ARI and a stand-in alert store: it drives the
session (answer, prompts, PIN check), saves its state after every step, forgets it at the
end, and turns ARI failures into `CommandFailed`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from line311.ari.errors import AriNotFound, AriUnreachable
from line311.messaging.alert_store import PhoneLockout
from line311.messaging.errors import MessagingError
from line311.messaging.phone_edge import SupervisorLine
from line311.messaging.pins import hash_pin

T0 = 1_750_000_000.0
PREFIX = "sound:/sounds"


class FakeAri:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, Exception] = {}
        self.changed = asyncio.Event()

    def _do(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        self.changed.set()
        if name in self.fail:
            raise self.fail[name]

    async def answer(self, channel_id: str) -> None:
        self._do("answer", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._do("hangup", channel_id)

    async def play(self, channel_id: str, media: Any, playback_id: str, lang: Any = None) -> None:
        self._do("play", (playback_id, list(media)))

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


class Harness:
    def __init__(self) -> None:
        self.ari = FakeAri()
        self.saved: list[tuple[str, dict[str, Any]]] = []
        self.forgotten: list[str] = []
        self.service = FakeService()
        self.line = SupervisorLine(
            self.ari,  # type: ignore[arg-type]
            self.service,  # type: ignore[arg-type]
            sounds_uri_prefix=PREFIX + "/",
            clock=FixedClock(),
            save=lambda call_id, state: self.saved.append((call_id, state)),
            forget=self._forget,
        )
        self.gone = asyncio.Event()

    def _forget(self, call_id: str) -> None:
        self.forgotten.append(call_id)
        self.gone.set()

    async def event(self, kind: str, **body: Any) -> None:
        await self.line.on_event({"type": kind, **body})

    async def digits(self, keys: str, channel: str = "c1") -> None:
        for k in keys:
            await self.event("ChannelDtmfReceived", digit=k, channel={"id": channel})

    async def until_gone(self) -> None:
        async with asyncio.timeout(5):
            await self.gone.wait()


async def test_given_a_call_then_it_is_answered_prompted_saved_and_forgotten_when_it_ends():
    h = Harness()
    async with h.line:
        await h.line.start("c1", line="PJSIP/agent3-0000001a")
        assert h.line.active_calls == 1
        assert await h.ari.wait_for("answer") == "c1"
        _, media = await h.ari.wait_for("play")
        assert media == [f"{PREFIX}/en/sup_enter_id"]
        await h.digits("1234#8642#")
        _, media = await h.ari.wait_for("play", 3)
        assert media == [f"{PREFIX}/en/sup_wrong_pin"]
        assert h.service.store.lockouts["PJSIP/agent3"].failures == 1
        await h.event("StasisEnd", channel={"id": "c1"})
        await h.until_gone()
    assert [call_id for call_id, _ in h.saved] == ["c1"] * len(h.saved)
    assert h.saved[0][1]["state"] == "enter_id"
    assert "8642" not in repr(h.saved)
    assert h.forgotten == ["c1"]
    assert ("hangup", "c1") not in h.ari.calls  # the caller hung up


async def test_given_asterisk_refuses_a_playback_then_the_line_hangs_up():
    h = Harness()
    h.ari.fail["play"] = AriUnreachable("down")
    async with h.line:
        await h.line.start("c1", line="c1")
        assert await h.ari.wait_for("hangup") == "c1"
        await h.until_gone()
    assert h.forgotten == ["c1"]


async def test_given_a_playback_already_over_when_stopped_then_the_call_carries_on():
    h = Harness()
    h.ari.fail["stop_playback"] = AriNotFound(404, "DELETE", "/playbacks/x")
    async with h.line:
        await h.line.start("c1", line="c1")
        await h.ari.wait_for("play")
        await h.digits("1234#")
        _, media = await h.ari.wait_for("play", 2)
        assert media == [f"{PREFIX}/en/sup_enter_pin"]
        await h.line.close()
    assert h.forgotten == []  # left running: its state stays for the next process


async def test_given_a_channel_gone_after_a_reconnect_then_its_call_ends():
    h = Harness()
    async with h.line:
        await h.line.start("c1", line="c1")
        await h.ari.wait_for("play")
        h.line.reconcile({"other"})
        await h.until_gone()
    assert h.forgotten == ["c1"]


async def test_given_events_of_other_channels_then_they_are_ignored():
    h = Harness()
    async with h.line:
        await h.line.start("c1", line="c1")
        await h.ari.wait_for("play")
        await h.digits("1", channel="c2")
        await h.event("ChannelVarset", channel={"id": "c1"})
        await h.line.on_channel_event("c1", object(), T0)
        await h.line.close()
    assert [name for name, _ in h.ari.calls] == ["answer", "play"]


async def test_given_the_line_is_not_running_then_a_call_is_refused():
    h = Harness()
    with pytest.raises(MessagingError, match="not running"):
        await h.line.start("c1", line="c1")


async def test_given_run_then_close_stops_it():
    h = Harness()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(h.line.run())
        async with asyncio.timeout(5):
            while True:
                try:
                    await h.line.start("c1", line="c1")
                    break
                except MessagingError:
                    await asyncio.sleep(0.01)
        await h.ari.wait_for("play")
        await h.line.close()
    assert h.line.active_calls == 0


async def test_given_the_store_fails_when_saving_then_the_call_goes_on():
    h = Harness()

    def broken(call_id: str, state: dict[str, Any]) -> None:
        raise OSError("disk full")

    h.line._save = broken
    async with h.line:
        await h.line.start("c1", line="c1")
        await h.ari.wait_for("play")
        await h.digits("1234#")
        _, media = await h.ari.wait_for("play", 2)
        assert media == [f"{PREFIX}/en/sup_enter_pin"]
        await h.line.close()
    assert ("hangup", "c1") not in h.ari.calls
