"""The supervisor line (a session kind of the runner) against a scripted fake ARI, with the
real store (SQLite and PostgreSQL) and real ffmpeg: sign in, record, keep, choose, submit;
lockout persists; a saved call carries on in another runner."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from line311.ari.models import Channel
from line311.ari.runner import Runner
from line311.ari.supervisor_kind import supervisor_kind
from line311.call.store import InMemorySessionStore
from line311.db import make_session_factory
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import AlertStore, Supervisor
from line311.messaging.alerts import AlertState, AudioSource
from line311.messaging.pins import hash_pin
from line311.messaging.recording import AlertAudioFiles, AudioLimits
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)


class FakeAri:
    """Records REST calls; the test plays Asterisk by feeding events to the line."""

    app = "line311"
    connected = True

    def __init__(self, recording: bytes) -> None:
        self.channels: list[Channel] = []
        self.calls: list[tuple[str, Any]] = []
        self.recording = recording
        self.changed = asyncio.Event()

    def _log(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        self.changed.set()

    async def answer(self, channel_id: str) -> None:
        self._log("answer", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._log("hangup", channel_id)

    async def play(self, channel_id: str, media: Any, playback_id: str, lang: Any = None) -> None:
        self._log("play", (playback_id, [media] if isinstance(media, str) else list(media)))

    async def list_bridges(self) -> list[Any]:
        return list(getattr(self, "bridges", []))

    async def list_channels(self) -> list[Channel]:
        return list(self.channels)

    async def stop_playback(self, playback_id: str) -> None:
        self._log("stop", playback_id)

    async def record(self, channel_id: str, name: str, format: str = "wav", **kw: Any) -> None:  # noqa: A002
        self._log("record", (name, kw))

    async def stop_recording(self, name: str) -> None:
        self._log("stop_recording", name)

    async def get_stored_recording_file(self, name: str) -> bytes:
        return self.recording

    async def delete_stored_recording(self, name: str) -> None:
        self._log("delete", name)


class Line:
    """A runner with the supervisor kind; the test plays Asterisk through `on_event`."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def start(self, channel_id: str, *, line: str) -> None:
        await self.on_event(
            {"type": "StasisStart", "args": ["agent-feature", "*80"],
             "channel": {"id": channel_id, "name": line}}
        )  # fmt: skip

    async def on_event(self, event: dict[str, Any]) -> None:
        await self.runner.on_event(event, 0.0)


class Phone:
    def __init__(self, line: Line, ari: FakeAri, channel: str = "chan-1") -> None:
        self.line, self.ari, self.channel = line, ari, channel

    async def wait_for(self, name: str, count: int = 1) -> Any:
        async with asyncio.timeout(10):
            while len([c for c in self.ari.calls if c[0] == name]) < count:
                self.ari.changed.clear()
                await self.ari.changed.wait()
        return [c[1] for c in self.ari.calls if c[0] == name][count - 1]

    async def event(self, event: dict[str, Any]) -> None:
        await self.line.on_event(event)

    async def digits(self, keys: str) -> None:
        for k in keys:
            await self.event(
                {"type": "ChannelDtmfReceived", "digit": k, "channel": {"id": self.channel}}
            )

    async def playback_done(self, playback_id: str) -> None:
        await self.event(
            {"type": "PlaybackFinished",
             "playback": {"id": playback_id, "target_uri": f"channel:{self.channel}"}}
        )  # fmt: skip

    async def recording_done(self, name: str) -> None:
        await self.event(
            {"type": "RecordingFinished",
             "recording": {"name": name, "target_uri": f"channel:{self.channel}"}}
        )  # fmt: skip


def speech(tmp_path: Path, source: str = "sine=frequency=300:duration=4") -> bytes:
    out = tmp_path / "rec.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         "-ar", "8000", "-ac", "1", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> AlertService:  # noqa: F811
    files = AlertAudioFiles(
        tmp_path / "state", tmp_path / "state" / "sounds", limits=AudioLimits(min_seconds=1.0)
    )
    svc = AlertService(AlertStore(make_session_factory(engine)), files, clock=lambda: T0)
    svc.store.set_supervisor(Supervisor("maria", "1234", hash_pin("9876", rounds=1000)), T0)
    return svc


class FixedClock:
    def now(self) -> float:
        return T0.timestamp()


class WatchedStore(InMemorySessionStore):
    """The runner's session store, remembering each call's saved states and deletions."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, list[dict[str, Any]]] = {}
        self.deleted: list[str] = []

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        self.states.setdefault(call_id, []).append(dict(entry["state"]))
        await super().save(call_id, entry)

    async def delete(self, call_id: str) -> None:
        self.deleted.append(call_id)
        await super().delete(call_id)


@contextlib.asynccontextmanager
async def make_line(
    service: AlertService, ari: FakeAri, store: InMemorySessionStore | None = None
) -> AsyncIterator[Line]:
    """A running runner; leaving it leaves calls in progress stored (as on shutdown)."""
    runner = Runner(
        ari,  # type: ignore[arg-type]
        [supervisor_kind(ari, service, clock=FixedClock())],  # type: ignore[arg-type]
        sounds_uri_prefix="sound:/var/lib/line311/sounds",
        caller_hash_key="test-key-0123456789abcdef",
        clock=FixedClock(),
        store=store if store is not None else WatchedStore(),
        orphan_grace=0.01,
    )
    async with runner.running():
        yield Line(runner)


async def test_given_a_supervisor_when_recording_by_phone_then_a_pending_alert_with_the_recording_exists(
    service: AlertService, tmp_path: Path
):
    ari = FakeAri(speech(tmp_path))
    store = WatchedStore()
    async with make_line(service, ari, store) as line:
        phone = Phone(line, ari)
        await line.start("chan-1", line="PJSIP/agent3-0001")
        await phone.wait_for("answer")
        await phone.digits("1234#9876#")
        pid, media = await phone.wait_for("play", 3)  # id prompt, pin prompt, instructions
        assert media == ["sound:/var/lib/line311/sounds/en/sup_record"]
        await phone.playback_done(pid)
        name, options = await phone.wait_for("record")
        assert options["beep"] is True
        assert options["terminate_on"] == "#"
        await phone.recording_done(name)
        pid, review = await phone.wait_for("play", 4)
        assert review == [f"recording:{name}"]
        await phone.playback_done(pid)
        _, review = await phone.wait_for("play", 5)
        assert review == ["sound:/var/lib/line311/sounds/en/sup_review"]
        await phone.digits("1")  # keep
        await phone.digits("2")  # Spanish
        await phone.digits("1")  # every caller
        await phone.digits("6#")  # six hours
        await phone.digits("1")  # submit
        pid, goodbye = await phone.wait_for("play", 10)
        assert goodbye == ["sound:/var/lib/line311/sounds/en/sup_submitted"]
        await phone.playback_done(pid)
        await phone.wait_for("hangup")

    [alert] = service.list_alerts()
    assert alert.state is AlertState.PENDING_APPROVAL
    assert alert.author == "maria"
    assert alert.ends_at == T0 + timedelta(hours=6)
    assert set(alert.audio) == {"es", "en"}  # every caller: also the English fallback
    assert alert.audio["es"].source is AudioSource.PHONE
    assert service.files.master_path(alert.id, "es").is_file()
    assert ("delete", name) in ari.calls
    # the state was saved after every step (never with the PIN), then forgotten
    saved, forgotten = store.states, store.deleted
    states = [state["state"] for state in saved["chan-1"]]
    assert states[0] == "enter_id"
    assert {"recording", "review", "confirm", "ending"} <= set(states)
    assert "9876" not in repr(saved)
    assert forgotten == ["chan-1"]


async def test_given_a_saved_call_when_another_line_resumes_it_then_it_carries_on(
    service: AlertService, tmp_path: Path
):
    ari = FakeAri(speech(tmp_path))
    store = WatchedStore()
    async with make_line(service, ari, store) as line:
        phone = Phone(line, ari)
        await line.start("chan-1", line="PJSIP/agent3-0001")
        await phone.digits("1234#9876#")
        await phone.wait_for("play", 3)  # the instructions: signed in
    saved = list(store.states["chan-1"])  # what the first runner saved
    assert saved[-1]["state"] == "recording"

    ari2 = FakeAri(speech(tmp_path))
    ari2.channels = [
        Channel(id="chan-1", state="Up", dialplan_app="Stasis",
                dialplan_app_data="line311,agent-feature,*80")
    ]  # fmt: skip
    async with make_line(service, ari2, store) as line2:
        phone2 = Phone(line2, ari2)
        await line2.runner.on_connected()  # the runner resumes what the store holds
        assert line2.runner.holds("chan-1")
        assert await phone2.wait_for("stop") == saved[-1]["playing"]  # the interrupted prompt
        pid, media = await phone2.wait_for("play")  # ... is played again from its start
        assert media == ["sound:/var/lib/line311/sounds/en/sup_record"]
        await phone2.playback_done(pid)
        name, _ = await phone2.wait_for("record")
        assert name == saved[-1]["recording"]
        await phone2.event({"type": "ChannelDestroyed", "channel": {"id": "chan-1"}})
        assert await phone2.wait_for("delete") == name  # the call ended: its take is deleted
    assert ("answer", "chan-1") not in ari2.calls


async def test_given_a_silent_recording_then_the_reason_is_spoken_and_it_records_again(
    service: AlertService, tmp_path: Path
):
    ari = FakeAri(speech(tmp_path, "anullsrc=r=8000:cl=mono:d=3"))
    async with make_line(service, ari) as line:
        phone = Phone(line, ari)
        await line.start("chan-1", line="PJSIP/agent3-0001")
        await phone.digits("1234#9876#")
        pid, _ = await phone.wait_for("play", 3)
        await phone.playback_done(pid)
        name, _ = await phone.wait_for("record")
        await phone.recording_done(name)
        pid, media = await phone.wait_for("play", 4)
        assert media == ["sound:/var/lib/line311/sounds/en/sup_silent"]
        await phone.playback_done(pid)
        _, media = await phone.wait_for("play", 5)
        assert media == ["sound:/var/lib/line311/sounds/en/sup_record"]
        await phone.event({"type": "StasisEnd", "channel": {"id": "chan-1"}})


async def test_given_three_wrong_pins_then_the_line_stays_locked_for_the_next_call(
    service: AlertService, tmp_path: Path
):
    ari = FakeAri(b"")
    async with make_line(service, ari) as line:
        phone = Phone(line, ari)
        await line.start("chan-1", line="PJSIP/agent3-0000001a")
        for attempt in range(1, 4):
            await phone.digits("1234#0000#")
            await phone.wait_for("play", 1 + 2 * attempt)
        _, media = await phone.wait_for("play", 7)
        assert media == ["sound:/var/lib/line311/sounds/en/sup_locked"]
    lock = service.store.lockout("PJSIP/agent3")
    assert lock.locked_until == T0 + timedelta(seconds=900)

    # the right PIN on a new call is refused while the line is locked
    ari2 = FakeAri(b"")
    async with make_line(service, ari2) as line2:
        phone2 = Phone(line2, ari2, "chan-2")
        await line2.start("chan-2", line="PJSIP/agent3-0000001b")
        await phone2.digits("1234#9876#")
        _, media = await phone2.wait_for("play", 3)
        assert media == ["sound:/var/lib/line311/sounds/en/sup_locked"]
