"""The desk link's wire (commands, events, queue facts, messages) and its writer's queue,
without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import redis.exceptions as redis_errors
from hypothesis import given
from hypothesis import strategies as st

from line311.call.commands import (
    AcceptOffer,
    EmitQueueEvent,
    Hangup,
    LeaveQueue,
    NoteInterpreterJoined,
    ReleaseAgent,
    RequestCallback,
    RingOut,
    TellPosition,
)
from line311.call.events import (
    AgentOffered,
    CallbackGranted,
    ChannelUp,
    MaxWaitReached,
    OfferAccepted,
    OfferRefused,
    OfferWithdrawn,
    PositionTold,
)
from line311.live.desk import (
    DESK_COMMANDS,
    DESK_EVENTS,
    KINDS,
    QUEUE_FACTS,
    DeskLink,
    DeskMessage,
    DeskWireError,
    decode_command,
    decode_event,
    decode_message,
    encode_command,
    encode_event,
    encode_message,
)
from line311.live.errors import LiveStateError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from tests.fixtures.polling import until

texts = st.text(st.characters(codec="utf-8"), max_size=12)  # (no lone surrogate)
ints = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False)

facts = st.one_of(
    st.builds(CallEnqueued, texts, texts, floats, texts, texts, ints),
    st.builds(CallAnswered, texts, texts, floats, texts),
    st.builds(CallAbandoned, texts, texts, floats, st.booleans()),
    st.builds(CallTimedOut, texts, texts, floats, texts, st.booleans()),
    st.builds(CallbackRequested, texts, texts, floats, st.booleans()),
    st.builds(CallCompleted, texts, texts, floats, floats, floats, floats, texts),
)
commands = st.one_of(
    st.just(LeaveQueue()),
    st.builds(AcceptOffer, texts, st.none() | st.booleans()),
    st.builds(RingOut, texts),
    st.builds(RequestCallback, st.booleans()),
    st.builds(ReleaseAgent, texts),
    st.just(TellPosition()),
    st.just(NoteInterpreterJoined()),
    st.builds(EmitQueueEvent, facts),
)
events = st.one_of(
    st.builds(AgentOffered, texts, texts, ints, st.booleans()),
    st.just(OfferWithdrawn()),
    st.just(OfferAccepted()),
    st.just(OfferRefused()),
    st.builds(MaxWaitReached, floats),
    st.builds(PositionTold, st.none() | ints, st.none() | floats),
    st.builds(CallbackGranted, st.booleans()),
)
json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
messages = st.builds(
    DeskMessage,
    st.sampled_from(sorted(KINDS)),
    texts,
    texts.filter(bool),
    st.dictionaries(texts, json_values, max_size=4),
)


def wire(obj: dict[str, Any]) -> Any:
    """Through JSON and back, as the link carries it."""
    return orjson.loads(orjson.dumps(obj))


# ---------------------------------------------------------------------- round trips
@given(commands)
def test_given_any_desk_command_when_encoded_and_decoded_then_equal(command: Any) -> None:
    data = encode_command(command)
    assert data["t"] == type(command).__name__
    assert decode_command(wire(data)) == command


@given(events)
def test_given_any_desk_event_when_encoded_and_decoded_then_equal(event: Any) -> None:
    data = encode_event(event)
    assert data["t"] == type(event).__name__
    assert decode_event(wire(data)) == event


@given(messages)
def test_given_any_message_when_encoded_and_decoded_then_equal(message: DeskMessage) -> None:
    assert decode_message(wire(encode_message(message))) == message


def test_every_listed_type_has_a_strategy_here() -> None:
    listed = {cls.__name__ for cls in (*DESK_COMMANDS, *DESK_EVENTS, *QUEUE_FACTS)}
    assert len(listed) == 8 + 7 + 6
    assert {"AgentOffered", "EmitQueueEvent", "CallCompleted"} <= listed


def test_the_form_is_the_class_name_and_its_fields() -> None:
    assert encode_command(AcceptOffer("1001")) == {
        "t": "AcceptOffer",
        "agent_id": "1001",
        "callback": None,
    }
    assert encode_command(LeaveQueue()) == {"t": "LeaveQueue"}
    assert encode_event(AgentOffered("1001", "PJSIP/1001", 2, True)) == {
        "t": "AgentOffered",
        "agent_id": "1001",
        "endpoint": "PJSIP/1001",
        "step": 2,
        "interpreter": True,
    }
    assert encode_event(PositionTold(None)) == {
        "t": "PositionTold",
        "position": None,
        "estimate": None,
    }
    fact = encode_command(EmitQueueEvent(CallAbandoned("c1", "general", 3.5, True)))
    assert fact == {
        "t": "EmitQueueEvent",
        "event": '{"type":"CallAbandoned","call_id":"c1","queue":"general","at":3.5,"media_server_lost":true}',
    }
    assert encode_message(DeskMessage("hello", "", "line311-w1")) == {
        "kind": "hello",
        "call_id": "",
        "sender": "line311-w1",
        "body": {},
    }


def test_given_a_peer_that_predates_a_defaulted_field_when_its_message_is_decoded_then_the_default() -> (
    None
):
    # a worker of the release before sends RingOut without ``unreachable`` (rolling upgrade)
    assert decode_command({"t": "RingOut", "agent_id": "agent7"}) == RingOut("agent7")
    # and AcceptOffer without ``callback``: the controller goes by its own word on the call
    assert decode_command({"t": "AcceptOffer", "agent_id": "a"}) == AcceptOffer("a", None)
    assert decode_command({"t": "RingOut", "agent_id": "a", "unreachable": True}) == RingOut(
        "a", unreachable=True
    )
    assert decode_event({"t": "AgentOffered", "agent_id": "a", "endpoint": "e"}) == AgentOffered(
        "a", "e"
    )
    fact = '{"type":"CallAbandoned","call_id":"c","queue":"q","at":1.0}'
    decoded = decode_command({"t": "EmitQueueEvent", "event": fact})
    assert decoded == EmitQueueEvent(CallAbandoned("c", "q", 1.0))
    with pytest.raises(DeskWireError, match="RingOut: missing agent_id"):
        decode_command({"t": "RingOut", "unreachable": False})


def test_given_whole_numbers_for_floats_then_floats_both_ways() -> None:
    assert encode_event(MaxWaitReached(5)) == {"t": "MaxWaitReached", "waited": 5.0}
    decoded = decode_event({"t": "PositionTold", "position": 3, "estimate": 60})
    assert decoded == PositionTold(3, 60.0)
    assert isinstance(decoded, PositionTold)
    assert type(decoded.estimate) is float
    command = decode_command(
        {
            "t": "EmitQueueEvent",
            "event": '{"type":"CallAnswered","call_id":"c","queue":"q","at":7,"agent_id":"a"}',
        }
    )
    assert isinstance(command, EmitQueueEvent)
    assert type(command.event.at) is float


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"t": "Hangup", "reason": "normal"}, "unknown type 'Hangup'"),
        (
            {
                "t": "AgentOffered",
                "agent_id": "a",
                "endpoint": "e",
                "step": 0,
                "interpreter": False,
            },
            "unknown type",
        ),
        ({"agent_id": "a"}, "unknown type None"),
        ({"t": 3}, "unknown type 3"),
        ([], "a JSON object expected"),
        ("AcceptOffer", "a JSON object expected"),
        ({"t": "AcceptOffer"}, "AcceptOffer: missing agent_id"),
        ({"t": "AcceptOffer", "agent_id": "a", "x": 1}, "AcceptOffer: unexpected x"),
        ({"t": "AcceptOffer", "agent_id": 1001}, r"AcceptOffer.agent_id: str expected, not 1001"),
        ({"t": "AcceptOffer", "agent_id": None}, "AcceptOffer.agent_id: str expected"),
        ({"t": "RequestCallback", "at_max_wait": 1}, "RequestCallback.at_max_wait: bool expected"),
        ({"t": "RequestCallback", "at_max_wait": "true"}, "bool expected"),
        ({"t": "LeaveQueue", "why": "x"}, "LeaveQueue: unexpected why"),
        ({"t": "EmitQueueEvent"}, "EmitQueueEvent: exactly one field"),
        ({"t": "EmitQueueEvent", "event": {"type": "CallAbandoned"}}, "exactly one field"),
        ({"t": "EmitQueueEvent", "event": "{nope"}, "the fact is not JSON"),
        ({"t": "EmitQueueEvent", "event": '{"type":"Boom"}'}, "unknown type 'Boom'"),
        ({"t": "EmitQueueEvent", "event": "[1]"}, "a JSON object expected"),
        (
            {
                "t": "EmitQueueEvent",
                "event": '{"type":"AgentStateChanged","agent_id":"a","state":"paused","at":1.0,"reason":""}',
            },
            "unknown type 'AgentStateChanged'",
        ),
        (
            {
                "t": "EmitQueueEvent",
                "event": '{"type":"CallAbandoned","call_id":"c","at":1.0}',
            },
            "CallAbandoned: missing queue",
        ),
        (
            {
                "t": "EmitQueueEvent",
                "event": '{"type":"CallAbandoned","call_id":"c","queue":"q","at":"1","media_server_lost":false}',
            },
            "CallAbandoned.at: float expected",
        ),
        (
            {
                "t": "EmitQueueEvent",
                "event": '{"type":"CallAbandoned","call_id":"c","queue":"q","at":NaN,"media_server_lost":false}',
            },
            "the fact is not JSON",
        ),
    ],
)
def test_given_a_malformed_command_when_decoded_then_desk_wire_error(data: Any, match: str) -> None:
    with pytest.raises(DeskWireError, match=match):
        decode_command(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"t": "AcceptOffer", "agent_id": "a"}, "unknown type 'AcceptOffer'"),
        ({"t": "ChannelUp", "channel_id": "x"}, "unknown type 'ChannelUp'"),
        (
            {
                "t": "AgentOffered",
                "agent_id": "a",
                "endpoint": "e",
                "step": 1.0,
                "interpreter": False,
            },
            "AgentOffered.step: int expected, not 1.0",
        ),
        (
            {
                "t": "AgentOffered",
                "agent_id": "a",
                "endpoint": "e",
                "step": True,
                "interpreter": False,
            },
            "step: int expected, not True",
        ),
        (
            {
                "t": "AgentOffered",
                "agent_id": "a",
                "endpoint": "e",
                "step": 2**63,
                "interpreter": False,
            },
            "step: int expected",
        ),
        (
            {"t": "AgentOffered", "agent_id": "a", "endpoint": "e", "step": 0, "interpreter": None},
            "interpreter: bool expected",
        ),
        (
            {"t": "AgentOffered", "agent_id": "a", "step": 1},
            "AgentOffered: missing endpoint",
        ),
        ({"t": "MaxWaitReached", "waited": "5"}, "MaxWaitReached.waited: float expected"),
        ({"t": "MaxWaitReached", "waited": None}, "waited: float expected"),
        ({"t": "MaxWaitReached", "waited": True}, "waited: float expected"),
        ({"t": "MaxWaitReached", "waited": math.inf}, "waited: float expected"),
        (
            {"t": "PositionTold", "position": 1.5, "estimate": None},
            "position: int or None expected",
        ),
        (
            {"t": "PositionTold", "position": None, "estimate": "soon"},
            "estimate: float or None expected",
        ),
        ({"t": "CallbackGranted", "ok": 0}, "CallbackGranted.ok: bool expected"),
        ({"t": "OfferAccepted", "extra": None}, "OfferAccepted: unexpected extra"),
    ],
)
def test_given_a_malformed_event_when_decoded_then_desk_wire_error(data: Any, match: str) -> None:
    with pytest.raises(DeskWireError, match=match):
        decode_event(data)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: encode_command(Hangup()), "Hangup is not a desk command"),
        (lambda: encode_command(OfferAccepted()), "OfferAccepted is not a desk command"),  # type: ignore[arg-type]
        (lambda: encode_command(AcceptOffer(7)), "AcceptOffer.agent_id: str expected"),  # type: ignore[arg-type]
        (lambda: encode_command(RequestCallback(None)), "at_max_wait: bool expected"),  # type: ignore[arg-type]
        (
            lambda: encode_command(EmitQueueEvent({"type": "CallEnqueued"})),
            "dict is not a queue fact",
        ),
        (
            lambda: encode_command(
                EmitQueueEvent(AgentStateChanged("a", AgentActivity.PAUSED, 1.0))
            ),
            "AgentStateChanged is not a queue fact",
        ),
        (
            lambda: encode_command(EmitQueueEvent(CallAbandoned("c", "q", math.nan))),
            "CallAbandoned.at: float expected",
        ),
        (
            lambda: encode_command(
                EmitQueueEvent(CallEnqueued("c", "q", 1.0, priority=None))  # type: ignore[arg-type]
            ),
            "priority: int expected",
        ),
        (lambda: encode_event(ChannelUp("x")), "ChannelUp is not a desk event"),
        (lambda: encode_event(AcceptOffer("a")), "AcceptOffer is not a desk event"),  # type: ignore[arg-type]
        (lambda: encode_event(MaxWaitReached(math.inf)), "waited: float expected"),
        (lambda: encode_event(PositionTold(2**64)), "position: int or None expected"),
        (lambda: encode_event(AgentOffered("a", "e", interpreter=1)), "interpreter: bool expected"),  # type: ignore[arg-type]
    ],
)
def test_given_something_without_a_wire_form_when_encoded_then_desk_wire_error(
    build: Callable[[], object], match: str
) -> None:
    with pytest.raises(DeskWireError, match=match):
        build()


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"kind": "cmd", "call_id": "c", "sender": "line311"}, "keys kind, call_id, sender, body"),
        ({"kind": "cmd", "call_id": "c", "sender": "line311", "body": {}, "x": 1}, "keys kind"),
        (
            {"kind": "shout", "call_id": "c", "sender": "line311", "body": {}},
            "unknown kind 'shout'",
        ),
        ({"kind": 1, "call_id": "c", "sender": "line311", "body": {}}, "unknown kind 1"),
        (
            {"kind": "cmd", "call_id": None, "sender": "line311", "body": {}},
            "call_id must be a string",
        ),
        ({"kind": "cmd", "call_id": "c", "sender": "", "body": {}}, "sender must be an app name"),
        ({"kind": "cmd", "call_id": "c", "sender": 5, "body": {}}, "sender must be an app name"),
        (
            {"kind": "cmd", "call_id": "c", "sender": "line311", "body": []},
            "body must be a JSON object",
        ),
        ([1, 2], "a JSON object expected"),
        (None, "a JSON object expected"),
    ],
)
def test_given_a_malformed_message_when_decoded_then_desk_wire_error(obj: Any, match: str) -> None:
    with pytest.raises(DeskWireError, match=match):
        decode_message(obj)


def test_given_a_malformed_message_when_encoded_then_desk_wire_error() -> None:
    with pytest.raises(DeskWireError, match="unknown kind 'shout'"):
        encode_message(DeskMessage("shout", "c", "line311"))
    with pytest.raises(DeskWireError, match="body must be a JSON object"):
        encode_message(DeskMessage("cmd", "c", "line311", {1: "x"}))  # type: ignore[dict-item]
    with pytest.raises(DeskWireError, match="not a desk message"):
        encode_message({"kind": "cmd"})  # type: ignore[arg-type]


def test_a_wire_error_is_a_live_state_error() -> None:
    assert issubclass(DeskWireError, LiveStateError)


# ---------------------------------------------------------------------- the writer's queue
@dataclass
class FakePipeline:
    client: FakeClient
    added: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def xadd(self, key: str, fields: dict[str, Any], **kw: Any) -> None:
        assert kw == {"maxlen": self.client.max_len, "approximate": True}
        self.added.append((key, fields))

    async def execute(self) -> list[str]:
        self.client.tries += 1
        if self.client.failing:
            raise redis_errors.ConnectionError("connection refused")
        self.client.written.extend(self.added)
        return ["1-0"] * len(self.added)


@dataclass
class FakeClient:
    """Records what a pipeline writes; ``failing``: each execute raises ConnectionError."""

    max_len: int = 100_000
    failing: bool = False
    tries: int = 0
    written: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def pipeline(self, *, transaction: bool) -> FakePipeline:
        assert transaction is False
        return FakePipeline(self)

    def delivered(self) -> dict[str, list[int]]:
        """Each inbox's ``body["i"]`` in the order written (the sequence numbers checked)."""
        out: dict[str, list[int]] = {}
        for key, entry in self.written:
            items = orjson.loads(entry["m"])
            assert int(entry["n"]) >= 1
            out.setdefault(key, []).extend(m["body"]["i"] for m in items)
        return out


def msg(i: int, sender: str = "line311") -> DeskMessage:
    return DeskMessage("cmd", f"c{i}", sender, {"i": i})


@contextlib.asynccontextmanager
async def running(link: DeskLink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_send_is_no_coroutine_and_queues_without_a_loop() -> None:
    link = DeskLink(FakeClient(), me="line311")  # type: ignore[arg-type]
    assert not inspect.iscoroutinefunction(DeskLink.send)
    link.send("line311-w1", msg(1))
    link.send("line311-w2", msg(2))
    assert link.queued == 2
    assert link.inbox("line311-w1") == "line311:desk:line311-w1"


def test_given_a_message_that_is_not_json_when_sent_then_desk_wire_error_and_nothing_queued() -> (
    None
):
    link = DeskLink(FakeClient(), me="line311")  # type: ignore[arg-type]
    for body in (
        {"x": math.nan},
        {"x": [1.0, {"y": math.inf}]},
        {"x": object()},
        {"x": "\udc80"},
        {"x": 2**64},
    ):
        with pytest.raises(DeskWireError, match="not JSON"):
            link.send("line311-w1", DeskMessage("cmd", "c1", "line311", body))
    link.send("line311-w1", DeskMessage("cmd", "c1", "line311", {"x": None, "y": [None, 1.5]}))
    assert link.queued == 1


def test_given_more_than_the_backlog_then_the_oldest_are_dropped_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="line311.live.desk")
    link = DeskLink(FakeClient(), me="line311", backlog=3)  # type: ignore[arg-type]
    for i in range(7):
        link.send("line311-w1" if i % 2 else "line311-w2", msg(i))
    assert link.queued == 3
    assert link.dropped == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "desk link: more than 3 messages wait for Redis; the oldest are dropped"
    ]


async def test_given_sends_when_the_writer_runs_then_one_entry_per_inbox_in_order() -> None:
    client = FakeClient()
    link = DeskLink(client, me="line311")  # type: ignore[arg-type]
    for i in range(10):
        link.send(f"line311-w{i % 2 + 1}", msg(i))
    async with running(link):
        assert await link.flush(5.0)
    assert client.tries == 1
    assert [key for key, _ in client.written] == [
        "line311:desk:line311-w1",
        "line311:desk:line311-w2",
    ]
    assert client.delivered() == {
        "line311:desk:line311-w1": [0, 2, 4, 6, 8],
        "line311:desk:line311-w2": [1, 3, 5, 7, 9],
    }
    entry = client.written[0][1]
    assert entry["from"] == "line311"
    assert entry["boot"] == link.boot
    assert entry["n"] == "1"
    assert orjson.loads(entry["m"])[0] == {
        "kind": "cmd",
        "call_id": "c0",
        "sender": "line311",
        "body": {"i": 0},
    }


async def test_given_redis_away_then_kept_in_order_one_warning_and_one_info_when_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="line311.live.desk")
    client = FakeClient(failing=True)
    link = DeskLink(client, me="line311-w1", retry=0.001, retry_max=0.004, backlog=50)  # type: ignore[arg-type]
    async with running(link):
        for i in range(30):
            link.send("line311", msg(i, "line311-w1"))
        assert not await link.flush(0.0)
        await until(lambda: client.tries >= 3, 5.0, "three failed writes")
        for i in range(30, 60):
            link.send("line311", msg(i, "line311-w1"))
        await until(lambda: link.dropped == 10, 5.0, "the oldest ten dropped")
        assert link.queued == 50
        client.failing = False
        assert await link.flush(5.0)
        assert link.queued == 0
        link.send("line311", msg(60, "line311-w1"))
        assert await link.flush(5.0)
    assert client.delivered() == {"line311:desk:line311": list(range(10, 61))}
    ns = [int(entry["n"]) for _, entry in client.written]
    assert ns[0] == 11  # the first ten numbers went with the dropped messages
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [lv for lv, _ in records] == ["WARNING", "ERROR", "INFO"]
    assert records[0][1].startswith("desk link: 30 message(s) not written (")
    assert (
        records[2][1] == "desk link: messages are written again (10 dropped while Redis was away)"
    )


async def test_given_a_backlog_past_the_entry_size_then_several_entries_in_order() -> None:
    client = FakeClient()
    link = DeskLink(client, me="line311")  # type: ignore[arg-type]
    for i in range(2_500):
        link.send("line311-w1", msg(i))
    async with running(link):
        assert await link.flush(5.0)
    assert [int(entry["n"]) for _, entry in client.written] == [1, 1_001, 2_001]
    assert client.delivered() == {"line311:desk:line311-w1": list(range(2_500))}


async def test_given_no_writer_when_flushed_then_false_after_the_bound() -> None:
    link = DeskLink(FakeClient(), me="line311")  # type: ignore[arg-type]
    link.send("line311-w1", msg(1))
    assert not await link.flush(0.01)
    assert link.queued == 1
    assert await DeskLink(FakeClient(), me="x").flush(0.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- a lost cancel
class SwallowingClient(FakeClient):
    """Each command waits, and a cancel that comes meanwhile is lost, as Python 3.11's
    ``asyncio.wait_for`` loses one when its inner task ends at the same moment."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def _swallow(self) -> None:
        self.calls += 1
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)

    async def xrevrange(self, *args: Any, **kw: Any) -> list[Any]:
        return []

    async def xread(self, *args: Any, **kw: Any) -> list[Any]:
        await self._swallow()
        return []

    def pipeline(self, *, transaction: bool) -> FakePipeline:
        client = self

        class Pipe(FakePipeline):
            async def execute(self) -> list[str]:
                await client._swallow()
                return []

        return Pipe(self)


async def test_given_a_cancel_lost_in_the_client_then_the_reader_and_the_writer_still_stop() -> (
    None
):
    client = SwallowingClient()
    link = DeskLink(client, me="line311")  # type: ignore[arg-type]

    async def read() -> None:
        async for _ in link.messages():
            pass

    reader = asyncio.create_task(read())
    await until(lambda: client.calls == 1, 5.0, "the reader in XREAD")
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(reader, 5.0)
    assert client.calls == 1  # no XREAD after the cancel

    link.send("line311-w1", msg(1))
    writer = asyncio.create_task(link.run())
    await until(lambda: client.calls == 2, 5.0, "the writer in its write")
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writer, 5.0)
    assert client.calls == 2
