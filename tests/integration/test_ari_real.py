"""The ARI edge against a REAL Asterisk (the session's private instance).

Calls are made without SIP: ARI originates a Local channel into the carrier dialplan
(``Local/311@line311-carrier``), whose second half reaches ``Stasis(line311,inbound,311)``
exactly like a carrier call. We choose both halves' ids client-side; the first half is marked
``outbound`` so the controller leaves it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from line311.ari.client import AriClient
from line311.ari.controller import Controller
from line311.ari.errors import AriError, AriNotFound
from line311.ari.phones import PhoneWatch
from line311.ari.translate import Translated, translate
from line311.call.events import PlaybackFinished
from line311.ivr.session import CallSession
from line311.privacy import caller_hash
from line311.sim.sipp import SippPhone, free_udp_port, register_phone, start_phone
from tests.conftest import AsteriskInstance

pytestmark = pytest.mark.asterisk

CALLER = "2125550123"
KEY = "real-asterisk-test-key-0123456789"


def ari_for(instance: AsteriskInstance, **kwargs: Any) -> AriClient:
    kwargs.setdefault("backoff_initial", 0.2)
    kwargs.setdefault("backoff_max", 1.0)
    return AriClient(
        instance.ari_url, instance.ari_user, instance.ari_password, instance.settings.ari_app,
        **kwargs,
    )  # fmt: skip


async def until(predicate: Any, within: float = 15.0) -> None:
    """A bounded poll for state owned by other tasks."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by other tasks
            await asyncio.sleep(0.02)


async def dial_311(ari: AriClient, exten: str = "311") -> tuple[str, str]:
    """Originate a Local call into the carrier dialplan; return (our half, the caller half)."""
    ours, theirs = f"t-{uuid.uuid4().hex[:12]}", f"c-{uuid.uuid4().hex[:12]}"
    await ari.originate(
        f"Local/{exten}@line311-carrier",
        ours,
        other_channel_id=theirs,
        app_args=("outbound", "test"),
        caller_id=f"Resident <{CALLER}>",
        dial_timeout=10,
    )
    return ours, theirs


async def hang_up_all(ari: AriClient, *channel_ids: str) -> None:
    for cid in channel_ids:
        with contextlib.suppress(AriError):
            await ari.hangup(cid)


@pytest.fixture
async def ari(asterisk_instance: AsteriskInstance) -> AsyncIterator[AriClient]:
    async with ari_for(asterisk_instance) as client:
        yield client


async def test_connects_and_reads_asterisk_info_and_channels(ari: AriClient):
    info = await ari.asterisk_info()
    assert info.version.split(".")[0].isdigit()
    assert ari.media_server_of("any-channel") == ari.base_url  # one client: one server
    started = await ari.media_server_started(ari.media_server_of("any-channel"))
    assert started is not None
    assert started == info.startup_time
    assert isinstance(await ari.list_channels(), list)
    with pytest.raises(AriNotFound):
        await ari.get_channel("no-such-channel")


async def test_a_waiter_sees_playback_events_and_a_missing_file_is_a_failed_playback(
    ari: AriClient,
):
    started: list[str] = []

    async def on_event(event: dict[str, Any], received_at: float) -> None:
        if event["type"] == "StasisStart" and event.get("args", [None])[0] == "inbound":
            started.append(event["channel"]["id"])

    runner = asyncio.create_task(ari.run(on_event))
    ours = theirs = ""
    try:
        await until(lambda: ari.connected)
        ours, theirs = await dial_311(ari)
        await until(lambda: theirs in started)
        channel = await ari.get_channel(theirs)
        assert channel.dialplan_exten == "311"
        assert channel.caller_number == CALLER
        await ari.answer(theirs)
        async with (
            ari.expect("PlaybackStarted", playback_id=f"{theirs}-p1") as began,
            ari.expect("PlaybackFinished", playback_id=f"{theirs}-p1") as finished,
        ):
            await ari.play(theirs, "sound:/nonexistent/line311-missing", f"{theirs}-p1")
            event = await asyncio.wait_for(finished, 10)
        assert event["playback"]["state"] == "failed"
        assert translate(event) == Translated(theirs, PlaybackFinished(f"{theirs}-p1", True))
        assert began.done() or began.cancelled()
        # what was said and heard is counted, ids folded into the route
        assert ari.traffic.requests[("POST", "/channels/{id}/answer")] == 1
        assert ari.traffic.requests[("POST", "/channels/{id}/play/{id}")] == 1
        assert ari.traffic.events["StasisStart"] >= 1
        assert ari.traffic.events["PlaybackFinished"] == 1
    finally:
        await hang_up_all(ari, theirs, ours)
        await ari.close()
        await runner


async def test_the_controller_answers_plays_the_greeting_and_records_the_call(
    ari: AriClient,
):
    records: list[dict[str, Any]] = []

    async def sink(record: dict[str, Any]) -> None:
        records.append(record)

    controller = Controller(
        ari,
        lambda call_id, dialed, now: CallSession(call_id, dialed, now),
        sounds_uri_prefix=f"sound:{asterisk_sounds_dir()}",
        caller_hash_key=KEY,
        record_sink=sink,
    )
    runner = asyncio.create_task(controller.run())
    ours = theirs = ""
    try:
        await until(lambda: controller.connected)
        ours, theirs = await dial_311(ari, "2126399675")
        await until(lambda: bool(records))
    finally:
        await hang_up_all(ari, theirs, ours)
        await ari.close()
        await runner
    [record] = records
    assert record["call_id"] == theirs
    assert record["dialed_number"] == "2126399675"
    assert record["caller_hash"] == caller_hash(CALLER, KEY)
    assert CALLER not in repr(record)
    assert record["answered_at"] is not None
    assert record["outcome"] == "completed", record["path"]


def asterisk_sounds_dir() -> str:
    from line311.asterisk.manager import SOUNDS_ASTERISK_DIR

    return SOUNDS_ASTERISK_DIR


async def test_recording_a_channel_stores_a_file_we_can_fetch_and_delete(ari: AriClient):
    started: list[str] = []

    async def on_event(event: dict[str, Any], received_at: float) -> None:
        if event["type"] == "StasisStart" and event.get("args", [None])[0] == "inbound":
            started.append(event["channel"]["id"])

    runner = asyncio.create_task(ari.run(on_event))
    name = f"line311-test-{uuid.uuid4().hex[:8]}"
    ours = theirs = ""
    try:
        await until(lambda: ari.connected)
        ours, theirs = await dial_311(ari)
        await until(lambda: theirs in started)
        await ari.answer(theirs)
        async with ari.expect("RecordingFinished", recording_name=name) as finished:
            live = await ari.record(theirs, name, "wav", max_duration=1, if_exists="overwrite")
            assert live.name == name
            await asyncio.wait_for(finished, 10)
        audio = await ari.get_stored_recording_file(name)
        assert audio[:4] == b"RIFF"
        await ari.delete_stored_recording(name)
        with pytest.raises(AriNotFound):
            await ari.get_stored_recording(name)
    finally:
        await hang_up_all(ari, theirs, ours)
        await ari.close()
        await runner


async def test_after_asterisk_restarts_the_client_reconnects_and_resyncs_by_itself(
    asterisk_instance: AsteriskInstance,
):
    connects = 0
    started: list[str] = []

    async def on_connected() -> None:
        nonlocal connects
        connects += 1

    async def on_event(event: dict[str, Any], received_at: float) -> None:
        if event["type"] == "StasisStart" and event.get("args", [None])[0] == "inbound":
            started.append(event["channel"]["id"])

    async with ari_for(asterisk_instance) as ari:
        runner = asyncio.create_task(ari.run(on_event, on_connected))
        ours = theirs = ""
        try:
            await until(lambda: connects == 1)
            await asyncio.to_thread(asterisk_instance.restart)
            await until(lambda: connects == 2 and ari.connected, within=30)
            assert ari.reconnects == 1
            ours, theirs = await dial_311(ari)
            await until(lambda: theirs in started)
        finally:
            await hang_up_all(ari, theirs, ours)
            await ari.close()
            await runner


async def test_a_ccr_phone_that_registers_and_unregisters_is_told_by_its_device_state(
    asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    """The subscription, the endpoint read and the DeviceStateChanged events, on Asterisk:
    a REGISTER makes the phone reachable (it answers the qualify OPTIONS), an un-REGISTER
    (Expires: 0) unreachable."""
    settings = asterisk_instance.settings
    agent = f"agent{settings.agent_count}"  # the roster's last: no other test's phone
    password = settings.agent_password.get_secret_value()
    told: list[tuple[str, bool]] = []

    class Desk:
        def phone_state(self, agent_id: str, online: bool) -> None:
            told.append((agent_id, online))

    async with ari_for(asterisk_instance) as client:
        watch = PhoneWatch(client, Desk(), {f"PJSIP/{agent}": agent})

        async def on_event(event: dict[str, Any], _at: float) -> None:
            if event.get("type") == "DeviceStateChanged":
                watch.on_event(event)

        runner = asyncio.create_task(client.run(on_event, watch.sync))
        phone: SippPhone | None = None
        try:
            await until(lambda: len(told) == 1)
            port = free_udp_port()
            await asyncio.to_thread(
                register_phone, tmp_path, settings.sip_port, agent, password, port
            )
            # the phone itself answers Asterisk's qualify OPTIONS on that port
            phone = start_phone(tmp_path / "phone", port)
            await until(lambda: told[-1] == (agent, True))
            phone.stop()
            await asyncio.to_thread(
                register_phone, tmp_path, settings.sip_port, agent, password, port, expires=0
            )
            await until(lambda: told[-1] == (agent, False))
        finally:
            if phone is not None:
                phone.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    assert watch.states.online(agent) is False
