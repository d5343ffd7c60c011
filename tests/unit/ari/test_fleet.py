"""AriFleet: one ARI port over several (fake) Asterisks: events merged, REST to the owner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from line311.ari.errors import AriNoServer, AriNotFound, AriUnknownResource, AriUnreachable
from line311.ari.fleet import AriFleet, Server
from line311.ari.kinds import CallStart, Ended, SessionKind
from line311.ari.models import Bridge, Channel
from line311.ari.port import EventHandler, acting_for
from line311.ari.runner import Runner
from line311.call.commands import Answer, Hangup
from line311.call.events import CallerHungUp, Event
from tests.unit.ari.fake_client import channel_event, playback_event, stasis_start

A, B = "line311-main-1", "line311-main-2"


class FakeServer:
    """One Asterisk's ARI client: records every REST call; `push` sends an event to the
    fleet through the handler `run` was given; `drop`/`back` toggle the connection."""

    app = "line311"

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[Any, ...]] = []
        self.channels: list[Channel] = []
        self.bridges: list[Bridge] = []
        self.fail: dict[str, Exception] = {}
        self.connected = False
        self.replaced = False
        self.closed = False
        self.on_connected_calls = 0
        self.started: datetime | None = None
        """When this Asterisk last started (``GET /asterisk/info``; None: it does not say)."""
        self._on_event: EventHandler | None = None
        self._on_connected: Callable[[], Any] | None = None
        self._waiters: list[tuple[set[str], Callable[[dict[str, Any]], bool], asyncio.Future]] = []
        self._stop = asyncio.Event()
        self.running = asyncio.Event()

    # test controls
    async def push(self, event: dict[str, Any]) -> None:
        for types, match, future in list(self._waiters):
            if event["type"] in types and match(event) and not future.done():
                future.set_result(event)
        assert self._on_event is not None
        await self._on_event(event, 0.0)

    async def connect(self) -> None:
        self.connected = True
        if self._on_connected is not None:
            await self._on_connected()

    def stop(self) -> None:
        self._stop.set()

    def _do(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        exc = self.fail.get(name)
        if exc is not None:
            raise exc

    # the port
    async def run(self, on_event: EventHandler, on_connected: Any = None) -> None:
        self._on_event, self._on_connected = on_event, on_connected
        self.running.set()
        try:
            await self._stop.wait()
        finally:
            self.connected = False

    async def close(self) -> None:
        self.closed = True

    @contextlib.asynccontextmanager
    async def expect(
        self,
        type: str | Iterable[str],  # noqa: A002
        *,
        channel_id: str | None = None,
        playback_id: str | None = None,
        recording_name: str | None = None,
        bridge_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
        types = {type} if isinstance(type, str) else set(type)

        def match(event: dict[str, Any]) -> bool:
            if channel_id is not None and event.get("channel", {}).get("id") != channel_id:
                return False
            return predicate is None or predicate(event)

        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter = (types, match, future)
        self._waiters.append(waiter)
        try:
            yield future
        finally:
            self._waiters.remove(waiter)
            if not future.done():
                future.cancel()

    async def list_channels(self) -> list[Channel]:
        self._do("list_channels")
        return list(self.channels)

    async def list_bridges(self) -> list[Bridge]:
        self._do("list_bridges")
        return list(self.bridges)

    async def media_server_started(self, server: str) -> datetime | None:
        self._do("media_server_started", server)
        return self.started

    def __getattr__(self, name: str) -> Any:
        """Every other REST call: recorded under its name, answers None."""
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._do(name, *args)
            if name == "get_stored_recording_file":
                return b"RIFF"
            return None

        return call


@dataclass
class Fleet:
    a: FakeServer = field(default_factory=lambda: FakeServer(A))
    b: FakeServer = field(default_factory=lambda: FakeServer(B))
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fleet = AriFleet([Server(A, self.a), Server(B, self.b)])  # type: ignore[list-item]

    async def on_event(self, event: dict[str, Any], received_at: float) -> None:
        self.events.append(event)


@contextlib.asynccontextmanager
async def running(f: Fleet, on_connected: Any = None) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(f.fleet.run(f.on_event, on_connected))
    await asyncio.wait_for(asyncio.gather(f.a.running.wait(), f.b.running.wait()), 5)
    try:
        yield task
    finally:
        f.a.stop()
        f.b.stop()
        await asyncio.wait_for(task, 5)


def names(server: FakeServer) -> list[str]:
    return [c[0] for c in server.calls]


async def test_given_two_servers_when_each_sends_events_then_all_reach_the_controller() -> None:
    f = Fleet()
    async with running(f):
        await f.a.push(stasis_start("x1"))
        await f.b.push(stasis_start("y1"))
        await f.b.push(channel_event("ChannelDtmfReceived", "y1", digit="1"))
    assert [e["channel"]["id"] for e in f.events] == ["x1", "y1", "y1"]


async def test_given_a_channel_seen_on_a_server_then_its_rest_calls_go_there() -> None:
    f = Fleet()
    async with running(f):
        await f.a.push(stasis_start("x1"))
        await f.b.push(stasis_start("y1"))
        await f.fleet.answer("y1")
        await f.fleet.play("y1", "sound:hello", "y1-p1")
        await f.fleet.stop_playback("y1-p1")
        await f.fleet.hangup("x1")
    assert names(f.b) == ["answer", "play", "stop_playback"]
    assert names(f.a) == ["hangup"]


async def test_given_an_asterisk_channel_id_never_seen_then_its_systemname_names_the_server() -> (
    None
):
    f = Fleet()
    await f.fleet.hangup(f"{B}-1733380000.12")
    await f.fleet.hangup(f"{A}-1733380000.7")
    assert f.b.calls == [("hangup", f"{B}-1733380000.12", "normal")]
    assert f.a.calls == [("hangup", f"{A}-1733380000.7", "normal")]


async def test_given_a_call_on_server_b_when_its_bridge_and_ccr_leg_are_created_then_on_b() -> None:
    f = Fleet()
    async with running(f):
        await f.b.push(stasis_start("y1"))
        with acting_for("y1"):
            await f.fleet.create_bridge("y1-br", "mixing")
            await f.fleet.originate("PJSIP/agent1", "y1-ccr", app_args=("outbound", "ccr"))
        # later, outside the call's step: the leg and the bridge are known to be on B
        await f.fleet.add_channel("y1-br", ["y1", "y1-ccr"])
        await f.fleet.hangup("y1-ccr")
        await f.fleet.destroy_bridge("y1-br")
    assert names(f.b) == ["create_bridge", "originate", "add_channel", "hangup", "destroy_bridge"]
    assert f.a.calls == []


async def test_given_other_channel_id_then_the_originate_goes_to_that_channels_server() -> None:
    f = Fleet()
    async with running(f):
        await f.a.push(stasis_start("x1"))
        await f.fleet.originate("Local/s@x", "x1-snoop", other_channel_id="x1")
    assert names(f.a) == ["originate"]


async def test_given_an_unknown_resource_then_a_clear_error_and_nothing_is_sent() -> None:
    f = Fleet()
    with pytest.raises(AriUnknownResource, match="channel 'nobody'") as caught:
        await f.fleet.hangup("nobody")
    assert isinstance(caught.value, AriNotFound)  # the edges treat it as gone
    with pytest.raises(AriUnknownResource, match="bridge"):
        await f.fleet.destroy_bridge("no-bridge")
    with pytest.raises(AriUnknownResource, match="playback"):
        await f.fleet.stop_playback("no-playback")
    with pytest.raises(AriUnknownResource, match="recording"):
        await f.fleet.get_stored_recording_file("no-take")
    with pytest.raises(AriNoServer, match="outside any call"):
        await f.fleet.create_bridge("br")
    with acting_for("nobody"), pytest.raises(AriUnknownResource):
        await f.fleet.originate("PJSIP/agent1", "leg")
    assert f.a.calls == []
    assert f.b.calls == []


async def test_given_a_take_recorded_on_b_then_it_is_read_and_deleted_on_b() -> None:
    f = Fleet()
    async with running(f):
        await f.b.push(stasis_start("y1"))
        await f.fleet.record("y1", "take-1")
        await f.fleet.stop_recording("take-1")
        data = await f.fleet.get_stored_recording_file("take-1")
        await f.fleet.delete_stored_recording("take-1")
    assert data == b"RIFF"
    assert names(f.b) == [
        "record",
        "stop_recording",
        "get_stored_recording_file",
        "delete_stored_recording",
    ]
    # a new controller that never saw the take: the call that recorded it names the server
    g = Fleet()
    with acting_for(f"{B}-1733380000.3"):
        await g.fleet.get_stored_recording_file("take-1")
    assert names(g.b) == ["get_stored_recording_file"]


async def test_list_channels_lists_every_server_and_learns_their_owners() -> None:
    f = Fleet()
    f.a.channels = [Channel(id="x1")]
    f.b.channels = [Channel(id="y1"), Channel(id="y2")]
    listed = await f.fleet.list_channels()
    assert sorted(c.id for c in listed) == ["x1", "y1", "y2"]
    await f.fleet.hangup("y2")
    assert f.b.calls[-1] == ("hangup", "y2", "normal")


async def test_given_one_server_unreachable_then_list_channels_fails_not_a_partial_list() -> None:
    f = Fleet()
    f.a.channels = [Channel(id="x1")]
    f.b.fail["list_channels"] = AriUnreachable("ARI GET /channels: ConnectError")
    with pytest.raises(AriUnreachable):
        await f.fleet.list_channels()


async def test_given_one_server_down_then_the_other_goes_on_and_connected_says_so() -> None:
    f = Fleet()
    async with running(f) as task:
        await f.a.connect()
        await f.b.connect()
        assert f.fleet.connected
        f.a.connected = False  # A's websocket dropped (its client reconnects by itself)
        assert not f.fleet.connected
        await f.b.push(stasis_start("y1"))
        await f.fleet.answer("y1")
        f.a.stop()  # A's loop even ends: B's goes on
        await asyncio.sleep(0)
        assert not task.done()
        await f.b.push(channel_event("ChannelDtmfReceived", "y1", digit="5"))
    assert [e["type"] for e in f.events] == ["StasisStart", "ChannelDtmfReceived"]
    assert names(f.b) == ["answer"]


async def test_on_connected_runs_per_server_reconnect_one_at_a_time() -> None:
    f = Fleet()
    active, most, runs = 0, 0, 0

    async def on_connected() -> None:
        nonlocal active, most, runs
        active += 1
        most = max(most, active)
        await asyncio.sleep(0)
        runs += 1
        active -= 1

    async with running(f, on_connected):
        await asyncio.gather(f.a.connect(), f.b.connect(), f.b.connect())
    assert (runs, most) == (3, 1)


async def test_expect_resolves_with_the_event_of_whichever_server_sends_it() -> None:
    f = Fleet()
    async with running(f):
        await f.b.push(stasis_start("y1"))
        async with f.fleet.expect("PlaybackFinished", playback_id="y1-p") as done:
            await f.b.push(playback_event("PlaybackFinished", "y1", "y1-p"))
            event = await asyncio.wait_for(done, 5)
    assert event["playback"]["id"] == "y1-p"


async def test_closing_the_fleet_closes_every_client_and_replaced_is_any() -> None:
    f = Fleet()
    f.b.replaced = True
    assert f.fleet.replaced
    async with f.fleet:
        pass
    assert f.a.closed
    assert f.b.closed


def test_a_fleet_needs_distinct_systemnames_and_one_app() -> None:
    with pytest.raises(ValueError, match="systemname"):
        AriFleet([Server(A, FakeServer(A)), Server(A, FakeServer(A))])  # type: ignore[list-item]
    other = FakeServer(B)
    other.app = "other"
    with pytest.raises(ValueError, match="one ARI app"):
        AriFleet([Server(A, FakeServer(A)), Server(B, other)])  # type: ignore[list-item]


# ---------------------------------------------------------------------- through the runner
@dataclass(frozen=True, slots=True)
class MeetAgent:
    """A kind's own command whose handler creates a bridge and a CCR leg for the call."""


class _MeetSession:
    def __init__(self) -> None:
        self._pending: list[object] = [Answer(), MeetAgent()]
        self.finished = False
        self.outcome = None

    def receive(self, event: Event, now: float) -> None:
        return None

    def commands(self) -> list[object]:
        pending, self._pending = self._pending, []
        return pending

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {}


async def test_given_a_call_on_b_when_the_runner_runs_its_commands_then_all_go_to_b() -> None:
    f = Fleet()

    async def meet(channel_id: str, command: MeetAgent) -> None:
        await f.fleet.create_bridge(f"{channel_id}-br", "mixing")
        await f.fleet.originate("PJSIP/agent1", f"{channel_id}-ccr")
        await f.fleet.add_channel(f"{channel_id}-br", channel_id)

    def start(call: CallStart) -> _MeetSession:
        return _MeetSession()

    kind = SessionKind(
        "meet",
        start=start,
        resume=lambda state, facts: _MeetSession(),
        accepts=lambda new: True,
        handlers={MeetAgent: meet},
    )
    runner = Runner(f.fleet, [kind], sounds_uri_prefix="sound:x", caller_hash_key="k" * 24)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(asyncio.gather(f.a.running.wait(), f.b.running.wait()), 5)
    await f.b.push(stasis_start("y1"))  # the runner has stepped the call when this returns
    f.a.stop()
    f.b.stop()
    await asyncio.wait_for(task, 5)
    assert names(f.b) == ["answer", "create_bridge", "originate", "add_channel"]
    assert f.a.calls == []


class _HangupSession(_MeetSession):
    """Hangs up at once and is over (its kind's end hook then runs)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = [Hangup()]

    def commands(self) -> list[object]:
        self.finished = True
        return super().commands()


async def test_given_a_call_on_b_when_its_end_hook_deletes_a_take_never_seen_then_on_b() -> None:
    """A restarted controller never saw the supervisor's take being recorded: the call that
    recorded it names the server when its session ends."""
    f = Fleet()

    async def ended(end: Ended) -> None:
        await f.fleet.delete_stored_recording("take-9")

    kind = SessionKind(
        "line",
        start=lambda call: _HangupSession(),
        resume=lambda state, facts: _HangupSession(),
        accepts=lambda new: True,
        ended=ended,
    )
    runner = Runner(f.fleet, [kind], sounds_uri_prefix="sound:x", caller_hash_key="k" * 24)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(asyncio.gather(f.a.running.wait(), f.b.running.wait()), 5)
    await f.b.push(stasis_start("y1"))
    f.a.stop()
    f.b.stop()
    await asyncio.wait_for(task, 5)
    assert f.b.calls == [("hangup", "y1", "normal"), ("delete_stored_recording", "take-9")]
    assert f.a.calls == []


async def test_the_media_server_of_a_channel_and_its_start_are_asked_of_the_server_holding_it() -> (
    None
):
    f = Fleet()
    f.b.started = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    async with running(f):
        await f.b.push(stasis_start("y1"))
        assert f.fleet.media_server_of("y1") == B
        assert f.fleet.media_server_of(f"{A}-1733380000.7") == A  # by its systemname
        assert await f.fleet.media_server_started(B) == f.b.started
    assert ("media_server_started", B) in f.b.calls
    assert f.a.calls == []
    with pytest.raises(AriUnknownResource, match="channel 'nobody'"):
        f.fleet.media_server_of("nobody")
    with pytest.raises(AriUnknownResource, match="server 'elsewhere'"):
        await f.fleet.media_server_started("elsewhere")


class _Listening(_MeetSession):
    """Hears every event; a hang-up ends it."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = []
        self.heard: list[Event] = []

    def receive(self, event: Event, now: float) -> None:
        self.heard.append(event)
        self.finished = isinstance(event, CallerHungUp)


class _Clock:
    def now(self) -> float:
        return 1_790_000_000.0


async def test_given_one_asterisk_of_two_restarted_when_the_runner_resyncs_then_only_its_calls_are_lost() -> (
    None
):
    f = Fleet()
    f.a.started = datetime.fromtimestamp(1_700_000_000.0, UTC)  # long before the calls
    f.b.started = datetime.fromtimestamp(1_790_000_060.0, UTC)  # after they began
    sessions: dict[str, _Listening] = {}

    def start(call: CallStart) -> _Listening:
        sessions[call.call_id] = _Listening()
        return sessions[call.call_id]

    kind = SessionKind(
        "listen", start=start, resume=lambda state, facts: _Listening(), accepts=lambda new: True
    )
    runner = Runner(
        f.fleet, [kind], sounds_uri_prefix="sound:x", caller_hash_key="k" * 24, clock=_Clock()
    )
    on_a, on_b = f"{A}-1790000000.1", (f"{B}-1790000000.1", f"{B}-1790000000.2")
    async with runner.running():
        for channel in (on_a, *on_b):
            await runner.on_event(stasis_start(channel), 0.0)
        await runner.on_connected()  # neither server lists a channel any more
    assert sessions[on_a].heard == [CallerHungUp()]
    assert [sessions[c].heard for c in on_b] == [[CallerHungUp(media_server_lost=True)]] * 2
    assert f.a.calls.count(("media_server_started", A)) == 1
    assert f.b.calls.count(("media_server_started", B)) == 1  # once per server, not per call
