"""The real AriClient and Controller against a fake ARI server that injects faults.

Shows: REST errors map to the right AriErrors, waiters registered before a REST call catch
events that beat its response, per-channel ordering, malformed JSON dropped and logged,
websocket drops and "Asterisk restarts" survived with backoff (no busy loop), 500 on play
becoming CommandFailed, and a clean shutdown with no warnings.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from line311.ari.client import AriClient
from line311.ari.controller import Controller
from line311.ari.errors import (
    AriAuthError,
    AriConflict,
    AriNotFound,
    AriServerError,
    AriTimeout,
    AriUnreachable,
)
from line311.ivr.session import CallSession
from tests.fixtures.fake_ari import FakeAri

pytestmark = pytest.mark.integration

Event = dict[str, Any]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    async with FakeAri() as server:
        yield server


def client_for(fake: FakeAri, **kwargs: Any) -> AriClient:
    kwargs.setdefault("backoff_initial", 0.05)
    kwargs.setdefault("backoff_max", 0.4)
    kwargs.setdefault("request_timeout", 2.0)
    kwargs.setdefault("connect_timeout", 1.0)
    return AriClient(
        fake.base_url,
        kwargs.pop("user", fake.user),
        kwargs.pop("password", fake.password),
        fake.app,
        rng=random.Random(1),
        **kwargs,
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.connects = 0
        self.changed = asyncio.Event()

    async def on_event(self, event: Event, received_at: float) -> None:
        self.events.append(event)
        self.changed.set()

    async def on_connected(self) -> None:
        self.connects += 1
        self.changed.set()

    async def wait(self, predicate: Any, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def poll(predicate: Any, within: float = 5.0) -> None:
    """A bounded poll for state the test cannot await directly."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by other tasks
            await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- REST
async def test_rest_calls_use_basic_auth_ids_and_parameters(fake: FakeAri):
    fake.add_channel("c1")
    async with client_for(fake) as ari:
        info = await ari.asterisk_info()
        channels = await ari.list_channels()
        await ari.answer("c1")
        playback = await ari.play("c1", ["sound:a", "sound:b"], "c1-p1")
    assert info.version == "22.0.0-fake"
    assert [c.id for c in channels] == ["c1"]
    assert channels[0].stasis_args("line311") == ("inbound", "311")
    assert playback.id == "c1-p1"
    play = fake.requests[-1]
    assert (play.method, play.path, play.query["media"]) == (
        "POST",
        "/channels/c1/play/c1-p1",
        "sound:a,sound:b",
    )


@pytest.mark.parametrize(
    ("status", "cls"), [(404, AriNotFound), (409, AriConflict), (500, AriServerError)]
)
async def test_http_errors_map_to_ari_errors(fake: FakeAri, status: int, cls: type[Exception]):
    fake.add_channel("c1")
    fake.fail("POST", "/channels/c1/answer", status)
    async with client_for(fake) as ari:
        with pytest.raises(cls) as info:
            await ari.answer("c1")
    assert "injected fault" in str(info.value)


async def test_wrong_password_is_an_auth_error_for_rest_and_events(fake: FakeAri):
    async with client_for(fake, password="wrong") as ari:
        with pytest.raises(AriAuthError):
            await ari.asterisk_info()
        with pytest.raises(AriAuthError):
            await asyncio.wait_for(ari.run(Recorder().on_event), 5)


async def test_slow_response_times_out(fake: FakeAri):
    fake.slow("GET", "/asterisk/info", 1.0)
    async with client_for(fake, request_timeout=0.2) as ari:
        with pytest.raises(AriTimeout):
            await ari.asterisk_info()


async def test_unreachable_asterisk_is_ari_unreachable():
    port_holder = FakeAri()  # never started: nothing listens on its port
    async with client_for(port_holder) as ari:
        with pytest.raises(AriUnreachable):
            await ari.list_channels()


# ---------------------------------------------------------------------- events
async def test_waiter_registered_before_play_catches_an_event_that_beats_the_response(
    fake: FakeAri,
):
    fake.add_channel("c1")
    rec = Recorder()
    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event, rec.on_connected))
        await fake.wait_for_websockets(1)
        async with (
            ari.expect("PlaybackStarted", playback_id="c1-p1") as started,
            ari.expect("PlaybackFinished", playback_id="c1-p1") as finished,
        ):
            await ari.play("c1", "sound:x", "c1-p1")
            assert started.done(), "PlaybackStarted arrived before the POST response"
            event = await asyncio.wait_for(finished, 5)
        assert event["playback"]["state"] == "done"
    await runner


async def test_events_are_delivered_in_order_per_channel_and_concurrently_across(fake: FakeAri):
    seen: dict[str, list[str]] = {"a": [], "b": []}
    active: set[str] = set()
    overlap = 0
    rng = random.Random(3)

    async def on_event(event: Event, received_at: float) -> None:
        nonlocal overlap
        channel = event["channel"]["id"]
        active.add(channel)
        overlap = max(overlap, len(active))
        await asyncio.sleep(rng.uniform(0, 0.004))
        seen[channel].append(event["digit"])
        active.discard(channel)

    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(on_event))
        await fake.wait_for_websockets(1)
        digits = "0123456789*#" * 3
        for d in digits:
            for ch in ("a", "b"):
                await fake.emit({"type": "ChannelDtmfReceived", "digit": d, "channel": {"id": ch}})
        await poll(lambda: all(len(v) == len(digits) for v in seen.values()))
    await runner
    assert seen == {"a": list(digits), "b": list(digits)}
    assert overlap == 2, "two channels were handled concurrently"


async def test_malformed_json_is_dropped_and_logged_and_reading_goes_on(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    rec = Recorder()
    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event))
        await fake.wait_for_websockets(1)
        with caplog.at_level(logging.WARNING, logger="line311.ari"):
            await fake.emit_raw("{not json")
            await fake.emit_raw('["no", "type"]')
            await fake.emit({"type": "StasisEnd", "channel": {"id": "c1"}})
            await rec.wait(lambda: len(rec.events) == 1)
    await runner
    assert rec.events[0]["type"] == "StasisEnd"
    assert "malformed ARI event" in caplog.text
    assert "without a type" in caplog.text


async def test_a_failing_handler_is_logged_with_its_channel_and_the_loop_survives(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    handled: list[str] = []

    async def on_event(event: Event, received_at: float) -> None:
        if event["type"] == "ChannelHangupRequest":
            raise RuntimeError("handler bug")
        handled.append(event["type"])

    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(on_event))
        await fake.wait_for_websockets(1)
        with caplog.at_level(logging.ERROR, logger="line311.ari"):
            await fake.emit({"type": "ChannelHangupRequest", "channel": {"id": "c9"}})
            await fake.emit({"type": "StasisEnd", "channel": {"id": "c9"}})
            await poll(lambda: handled == ["StasisEnd"])
    await runner
    [record] = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert "c9" in record.getMessage()
    assert record.exc_info is not None


# ---------------------------------------------------------------------- reconnects
async def test_websocket_dropped_then_reconnects_with_resync_and_logs(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    rec = Recorder()
    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event, rec.on_connected))
        await fake.wait_for_websockets(1)
        await rec.wait(lambda: rec.connects == 1)
        with caplog.at_level(logging.INFO, logger="line311.ari"):
            await fake.drop_websockets()
            await fake.wait_for_websockets(2)
            await rec.wait(lambda: rec.connects == 2)
        assert ari.connected
        assert ari.reconnects == 1
        await fake.emit({"type": "StasisEnd", "channel": {"id": "c1"}})
        await rec.wait(lambda: len(rec.events) == 1)
    await runner
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(lvl == "WARNING" and "connection lost" in m for lvl, m in levels)
    assert any(lvl == "INFO" and "back after" in m for lvl, m in levels)


async def test_asterisk_down_then_back_reconnects_with_capped_backoff_not_a_busy_loop(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    rec = Recorder()
    async with client_for(fake, backoff_initial=0.05, backoff_max=0.4) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event, rec.on_connected))
        await fake.wait_for_websockets(1)
        with caplog.at_level(logging.WARNING, logger="line311.ari.client"):
            await fake.restart(down_for=1.5)
            await fake.wait_for_websockets(2)
        await rec.wait(lambda: rec.connects == 2)
    await runner
    retries = [r for r in caplog.records if "unreachable" in r.getMessage()]
    # 1.5 s down with delays 0.025-0.05, 0.05-0.1, 0.1-0.2, then 0.2-0.4: at most ~10 tries
    assert 2 <= len(retries) <= 12, [r.getMessage() for r in retries]


async def test_close_during_backoff_ends_run_promptly(caplog: pytest.LogCaptureFixture):
    down = FakeAri()
    ari = client_for(down, backoff_initial=5.0, backoff_max=5.0)
    with caplog.at_level(logging.WARNING, logger="line311.ari.client"):
        runner = asyncio.create_task(ari.run(Recorder().on_event))
        await poll(lambda: "unreachable" in caplog.text)  # the first retry's backoff has begun
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ari.close()
    await asyncio.wait_for(runner, 2)
    assert loop.time() - started < 1.0


# ---------------------------------------------------------------------- the controller
def controller_for(
    ari: AriClient, records: list[dict[str, Any]], done: list[str] | None = None
) -> Controller:
    """A controller with the real CallSession; ``done`` collects the REST operations done."""

    async def sink(record: dict[str, Any]) -> None:
        records.append(record)

    return Controller(
        ari,
        lambda call_id, dialed, now: CallSession(call_id, dialed, now),
        sounds_uri_prefix="sound:/var/lib/line311/sounds",
        caller_hash_key="k" * 32,
        record_sink=sink,
        observer=(lambda op, seconds: done.append(op)) if done is not None else None,
        orphan_grace=0.05,
    )


async def test_controller_answers_plays_and_hangs_up_a_call(fake: FakeAri):
    records: list[dict[str, Any]] = []
    async with client_for(fake) as ari:
        controller = controller_for(ari, records)
        runner = asyncio.create_task(controller.run())
        await fake.wait_for_websockets(1)
        await fake.start_call("c1", "2126399675")
        await poll(lambda: bool(records))
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert fake.paths("POST") == ["/channels/c1/answer", "/channels/c1/play/c1-p1"]
    assert fake.paths("DELETE") == ["/channels/c1"]
    assert records[0]["outcome"] == "completed"
    assert records[0]["dialed_number"] == "2126399675"
    assert "2125550123" not in repr(records)


async def test_500_on_play_becomes_command_failed_and_the_call_is_hung_up(fake: FakeAri):
    records: list[dict[str, Any]] = []
    fake.fail("POST", r"/channels/[^/]+/play/.*", 500)
    async with client_for(fake) as ari:
        controller = controller_for(ari, records)
        runner = asyncio.create_task(controller.run())
        await fake.wait_for_websockets(1)
        await fake.start_call("c1")
        await poll(lambda: bool(records))
        await ari.close()
        await runner
    assert fake.paths("DELETE") == ["/channels/c1"]
    assert records[0]["outcome"] == "failed"
    assert "asterisk-server-error" in records[0]["path"]["end_reason"]


async def test_websocket_dropped_mid_call_the_call_completes_after_reconnect(fake: FakeAri):
    records: list[dict[str, Any]] = []
    done: list[str] = []
    fake.playback_duration = None  # we finish the playback by hand
    async with client_for(fake) as ari:
        controller = controller_for(ari, records, done)
        runner = asyncio.create_task(controller.run())
        await fake.wait_for_websockets(1)
        await fake.start_call("c1")
        await poll(lambda: done == ["answer", "play"])
        await fake.drop_websockets()
        await fake.wait_for_websockets(2)
        await poll(lambda: fake.paths("GET").count("/channels") == 2)
        assert controller.active_calls == 1, "the channel still exists: the call goes on"
        await fake.emit(
            {
                "type": "PlaybackFinished",
                "playback": {"id": "c1-p1", "target_uri": "channel:c1", "state": "done"},
            }
        )
        await poll(lambda: bool(records))
        await ari.close()
        await runner
    assert records[0]["outcome"] == "completed"


async def test_after_an_asterisk_restart_lost_calls_end_and_callers_without_state_hear_the_ivr_again(
    fake: FakeAri,
):
    records: list[dict[str, Any]] = []
    done: list[str] = []
    fake.playback_duration = None
    async with client_for(fake) as ari:
        controller = controller_for(ari, records, done)
        runner = asyncio.create_task(controller.run())
        await fake.wait_for_websockets(1)
        await fake.start_call("c1")
        await poll(lambda: done == ["answer", "play"])
        # channels are gone after a restart; "leftover" is a caller in our app that no session
        # knows, there before the controller can reconnect and read the channel list
        await fake.restart(down_for=0.2, channels=["leftover"])
        await fake.wait_for_websockets(2)
        await poll(lambda: bool(records) and "/channels/leftover/answer" in fake.paths("POST"))
        assert "/channels/leftover" not in fake.paths("DELETE")  # never silence, never a BYE
        assert controller.active_calls == 1
        assert controller.connected
        await ari.close()
        await runner
    assert records[0]["outcome"] == "abandoned"


async def test_given_application_replaced_then_run_returns_without_reconnecting(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    """A newer controller took the application over (a rolling restart): Asterisk sends
    ApplicationReplaced and keeps this socket open but silent; reconnecting would take the
    application back, so `run` returns and says why."""
    rec = Recorder()
    async with client_for(fake) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event, rec.on_connected))
        await fake.wait_for_websockets(1)
        await rec.wait(lambda: rec.connects == 1)
        with caplog.at_level(logging.WARNING, logger="line311.ari.client"):
            await fake.emit({"type": "ApplicationReplaced", "application": fake.app})
            async with asyncio.timeout(5):
                await runner
        assert ari.replaced is True
        assert not ari.connected
        assert fake.ws_accepted == 1  # no reconnect
        assert rec.events == []  # the event is the client's own business
    assert "took over ARI application" in caplog.text


# ---------------------------------------------------------------------- event filter
async def test_event_filter_is_set_after_every_connect_and_a_refusal_is_not_fatal(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
):
    """The filter is asked for on each connect (Asterisk forgets it with the application);
    an Asterisk that refuses it (here: 501 the first time) is logged, and the re-sync and the
    events go on as before (it then simply sends every event)."""
    path = f"/applications/{fake.app}/eventFilter"
    fake.fail("PUT", path, 501, times=1)
    rec = Recorder()
    async with client_for(fake, events=("StasisStart", "StasisEnd")) as ari:
        runner = asyncio.create_task(ari.run(rec.on_event, rec.on_connected))
        with caplog.at_level(logging.WARNING, logger="line311.ari"):
            await fake.wait_for_websockets(1)
            await rec.wait(lambda: rec.connects == 1)
            await fake.drop_websockets()
            await fake.wait_for_websockets(2)
            await rec.wait(lambda: rec.connects == 2)
        await fake.emit({"type": "StasisEnd", "channel": {"id": "c1"}})
        await rec.wait(lambda: len(rec.events) == 1)
    await runner
    puts = [r for r in fake.requests if (r.method, r.path) == ("PUT", path)]
    assert len(puts) == 2
    assert puts[-1].body == {"allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}]}
    assert any("event filter not set" in r.getMessage() for r in caplog.records)
