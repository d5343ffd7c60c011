"""The desk link: IVR workers and the controller talk about queued calls over Redis streams.

Theory of operation
-------------------
An IVR worker keeps the callers it queued and runs their queue leg (music, prompts, ringing
the CCR) itself; the one controller keeps the router, which makes the decisions. The leg's
router commands (`line311.call.commands`: `AcceptOffer`, `TellPosition`, ...) go to the
controller, and the router's answers and offers (`line311.call.events`: `AgentOffered`,
`PositionTold`, ...) come back. Each process has one inbox, a stream named for its Stasis
app, and writes into the others'::

    worker "line311-w1"                       Redis                         controller "line311"
    link.send("line311", cmd) ─▶ queue ─▶ XADD <prefix>desk:line311    ─▶ link.messages()
    link.messages()           ◀─ XREAD ◀─ XADD <prefix>desk:line311-w1 ◀─ queue ◀─ link.send(...)

**Wire.** A `DeskMessage` (kind, call id, sender, JSON body) is one JSON object; a command
or event inside a body is ``{"t": "<ClassName>", ...fields}`` (`encode_command`,
`encode_event`), a queue fact inside `EmitQueueEvent` the `line311.live.journal.encode_fact`
text. The wire form of each class is read off its dataclass fields (str, int, bool, float,
each optionally None), so a field added to one of them travels without a change here, and
a field of a type JSON cannot carry exactly fails at import. Decoding checks every field
(exact keys, exact types, finite numbers): a bad input raises `DeskWireError`, never gives a
wrong object. A field with a default may be absent (it reads as the default): so a field added
later, with a default, still reads from a peer of the release before, in a rolling upgrade.

**Sending never waits.** `send` checks and serialises the message at once (a message that
is not JSON fails in the caller's step, not later), appends it to one in-memory queue and
wakes the writer task (`run`). Each pass of the writer takes everything queued and writes
one stream entry per destination holding all its messages (field ``m``: a JSON list), every
destination's XADD in one pipeline; messages sent while a pass is under way go in the next,
so a burst costs a round trip per pass, not per message.

**Redis away.** What a failed pass took goes back in front of what came meanwhile, and is
written again after 0.5 s, then 1 s, ... up to 5 s (one WARNING per outage, one INFO once
written). Past ``backlog`` messages waiting, the oldest are dropped (`dropped`; one ERROR
per outage; the INFO at the end names how many). The writes are at least once: a write
whose reply was lost (a stalled Redis, a timeout) may still land, and is written again. So
every entry carries its writer (``from``: app name, ``boot``: this process's id) and the
sequence number of its first message (``n``; per destination, one more per message), and
the reader drops a message whose number it has already seen from that writer: each message
is delivered once, in the order sent.

**Reading.** `open` notes where this process's inbox ends now (call it before announcing
the process, so no reply is missed); `messages` then reads with ``XREAD BLOCK`` from there,
yields each message of each entry in order, and keeps the last id, so nothing is read twice
and nothing Redis still holds is skipped across an outage (same WARNING / retry / INFO as
the writer). A malformed entry or message is logged (WARNING) and skipped.

Each inbox is capped at about ``max_len`` entries (a reader away that long loses the oldest).
The client must decode responses, and its socket timeout must exceed ``block_ms``
(`line311.live.client.connect`: 2 s against 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from types import NoneType, UnionType
from typing import Any, Final, Union, get_args, get_origin, get_type_hints

import orjson
import redis.asyncio as aioredis

from line311.call.commands import (
    ROUTER_COMMANDS,
    AcceptOffer,
    Command,
    EmitQueueEvent,
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
    Event,
    MaxWaitReached,
    OfferAccepted,
    OfferRefused,
    OfferWithdrawn,
    PositionTold,
)
from line311.live.errors import LiveStateError
from line311.live.journal import decode_fact, encode_fact
from line311.live.routing import DEFAULT_PREFIX, mapped_errors
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)

__all__ = [
    "DESK_COMMANDS",
    "DESK_EVENTS",
    "ENTRY_MAX",
    "KINDS",
    "QUEUE_FACTS",
    "DeskCommand",
    "DeskEvent",
    "DeskLink",
    "DeskMessage",
    "DeskWireError",
    "decode_command",
    "decode_event",
    "decode_message",
    "encode_command",
    "encode_event",
    "encode_message",
    "new_epoch",
]

logger = logging.getLogger(__name__)

KINDS: Final = frozenset({"enqueue", "admitted", "cmd", "event", "ivr", "end", "leg", "hello"})
ENTRY_MAX: Final = 1_000
"""Messages in one stream entry at most (a backlog after an outage goes in several)."""
_SEEN_MAX = 1_024
"""Writers (app, boot) whose last sequence number a reader remembers."""
_INT_LIMIT = 2**63  # what every JSON reader here (orjson) reads back as an int

DeskCommand = (
    LeaveQueue
    | AcceptOffer
    | RingOut
    | RequestCallback
    | ReleaseAgent
    | TellPosition
    | NoteInterpreterJoined
    | EmitQueueEvent
)
DeskEvent = (
    AgentOffered
    | OfferWithdrawn
    | OfferAccepted
    | OfferRefused
    | MaxWaitReached
    | PositionTold
    | CallbackGranted
)
DESK_COMMANDS: Final[tuple[type[Any], ...]] = ROUTER_COMMANDS
DESK_EVENTS: Final[tuple[type[Any], ...]] = (
    AgentOffered,
    OfferWithdrawn,
    OfferAccepted,
    OfferRefused,
    MaxWaitReached,
    PositionTold,
    CallbackGranted,
)
QUEUE_FACTS: Final[tuple[type[Any], ...]] = (
    CallEnqueued,
    CallAnswered,
    CallAbandoned,
    CallTimedOut,
    CallbackRequested,
    CallCompleted,
)
"""The queue facts an `EmitQueueEvent` may carry."""


class DeskWireError(LiveStateError):
    """A command, event or message that has no wire form, or a wire form that is not one."""


# ---------------------------------------------------------------------- field checks
@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: type[Any]
    """str, int, float or bool."""
    optional: bool
    defaulted: bool = False
    """The class gives it a default: a message without it (from a peer that predates the
    field, during a rolling upgrade) reads as that default."""


def _wire_fields(cls: type[Any]) -> tuple[_Field, ...]:
    """The fields of ``cls`` and their wire types (TypeError: a type with no exact form)."""
    hints = get_type_hints(cls)
    out = []
    for f in fields(cls):
        hint = hints[f.name]
        args = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
        kinds = [a for a in args if a is not NoneType]
        if len(kinds) != 1 or kinds[0] not in (str, int, float, bool) or f.name in ("t", "type"):
            raise TypeError(f"{cls.__name__}.{f.name} ({hint}) has no desk wire form")
        defaulted = f.default is not MISSING or f.default_factory is not MISSING
        out.append(_Field(f.name, kinds[0], NoneType in args, defaulted))
    return tuple(out)


def _value(what: str, f: _Field, value: object) -> Any:
    """``value`` as field ``f`` carries it (an int as a float for a float field);
    `DeskWireError` when it is not of the field's type."""
    if value is None:
        ok = f.optional
    elif f.kind is str:
        ok = isinstance(value, str)
        if ok:
            value = str.__str__(value)  # a str enum or subclass as its plain text
    elif f.kind is bool:
        ok = type(value) is bool
    elif type(value) is int:
        ok = -_INT_LIMIT <= value < _INT_LIMIT and f.kind in (int, float)
        if ok and f.kind is float:
            value = float(value)
    else:
        ok = f.kind is float and type(value) is float and math.isfinite(value)
    if not ok:
        wanted = f.kind.__name__ + (" or None" if f.optional else "")
        raise DeskWireError(f"{what}.{f.name}: {wanted} expected, not {value!r:.80}")
    return value


def _kwargs(cls: type[Any], spec: tuple[_Field, ...], data: Mapping[str, Any], tag: str) -> Any:
    """The checked fields of ``cls`` in ``data`` (its keys: ``tag``, every field without a
    default, and no other)."""
    names = {f.name for f in spec}
    keys = set(data) - {tag}
    required = {f.name for f in spec if not f.defaulted}
    if not required <= keys <= names:
        missing, extra = sorted(required - keys), sorted(map(str, keys - names))
        wrong = [f"missing {', '.join(missing)}"] if missing else []
        wrong += [f"unexpected {', '.join(extra)}"] if extra else []
        raise DeskWireError(f"{cls.__name__}: {'; '.join(wrong)}")
    return {f.name: _value(cls.__name__, f, data[f.name]) for f in spec if f.name in data}


def _encoded(obj: object) -> dict[str, Any]:
    name = type(obj).__name__
    return {"t": name} | {f.name: _value(name, f, getattr(obj, f.name)) for f in _SPECS[type(obj)]}


def _decoded(
    data: Mapping[str, Any], by_name: Mapping[str, type[Any]], what: str, tag: str = "t"
) -> Any:
    if not isinstance(data, Mapping):
        raise DeskWireError(f"{what}: a JSON object expected, not {data!r:.80}")
    name = data.get(tag)
    cls = by_name.get(name) if isinstance(name, str) else None
    if cls is None:
        raise DeskWireError(f"{what}: unknown type {name!r:.80}")
    return cls(**_kwargs(cls, _SPECS[cls], data, tag))


_SPECS: Final[dict[type[Any], tuple[_Field, ...]]] = {
    cls: _wire_fields(cls)
    for cls in (*DESK_COMMANDS, *DESK_EVENTS, *QUEUE_FACTS)
    if cls is not EmitQueueEvent
}
_COMMANDS: Final = {cls.__name__: cls for cls in DESK_COMMANDS}
_EVENTS: Final = {cls.__name__: cls for cls in DESK_EVENTS}
_FACTS: Final = {cls.__name__: cls for cls in QUEUE_FACTS}


# ---------------------------------------------------------------------- commands, events
def encode_command(command: Command) -> dict[str, Any]:
    """``command`` (one of `DESK_COMMANDS`) as ``{"t": "<ClassName>", ...fields}``."""
    if type(command) not in _COMMANDS.values():
        raise DeskWireError(f"{type(command).__name__} is not a desk command")
    if isinstance(command, EmitQueueEvent):
        fact = command.event
        if type(fact) not in _FACTS.values():
            raise DeskWireError(f"EmitQueueEvent: {type(fact).__name__} is not a queue fact")
        checked = {
            f.name: _value(type(fact).__name__, f, getattr(fact, f.name))
            for f in _SPECS[type(fact)]
        }
        return {"t": "EmitQueueEvent", "event": encode_fact(replace(fact, **checked))}
    return _encoded(command)


def decode_command(data: Mapping[str, Any]) -> DeskCommand:
    """The command `encode_command` wrote; `DeskWireError` for anything else."""
    if isinstance(data, Mapping) and data.get("t") == "EmitQueueEvent":
        if set(data) != {"t", "event"} or not isinstance(data["event"], str):
            raise DeskWireError("EmitQueueEvent: exactly one field, event (a JSON text)")
        return EmitQueueEvent(_decoded_fact(data["event"]))
    command: DeskCommand = _decoded(data, _COMMANDS, "command")
    return command


def _decoded_fact(text: str) -> Any:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise DeskWireError(f"EmitQueueEvent: the fact is not JSON: {text!r:.80}") from None
    checked = _decoded(body, _FACTS, "EmitQueueEvent.event", tag="type")  # every field checked
    fact = decode_fact(text, _FACTS)  # the journal's reading, the one of record
    if fact is None:
        raise DeskWireError(f"EmitQueueEvent: unreadable fact {text!r:.80}")
    return replace(fact, **{f.name: getattr(checked, f.name) for f in _SPECS[type(fact)]})


def encode_event(event: Event) -> dict[str, Any]:
    """``event`` (one of `DESK_EVENTS`) as ``{"t": "<ClassName>", ...fields}``."""
    if type(event) not in _EVENTS.values():
        raise DeskWireError(f"{type(event).__name__} is not a desk event")
    return _encoded(event)


def decode_event(data: Mapping[str, Any]) -> DeskEvent:
    """The event `encode_event` wrote; `DeskWireError` for anything else."""
    event: DeskEvent = _decoded(data, _EVENTS, "event")
    return event


# ---------------------------------------------------------------------- messages
def new_epoch(number: int, boot: str) -> str:
    """A controller's epoch: its number (`DeskLink.take_epoch`) and boot id, as text that
    sorts as the numbers do (a controller started later has the greater epoch). The
    controller's messages carry it (``by``), the workers' carry the newest they heard of
    (``to``): during a rolling restart's overlap the workers heed only the new controller,
    and the old one, once it reads a message meant for a newer epoch, stands down."""
    if number < 0:
        raise ValueError("an epoch's number is not negative")
    return f"{number:020d}-{boot}"


_TAKE_EPOCH = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local number = last + 1
if now > number then number = now end
redis.call('SET', KEYS[1], number)
return number
"""
"""The next epoch number: one more than the last, or the clock (ms) if that is ahead. So the
numbers grow whether the clock steps back (Redis remembers) or Redis lost its data (the
clock carries on); only both at once could give a smaller one."""


@dataclass(frozen=True, slots=True)
class DeskMessage:
    """One message of the desk link."""

    kind: str
    """One of `KINDS`."""
    call_id: str
    """The call it is about ("" for ``hello``)."""
    sender: str
    """The sender's Stasis app name: ``line311`` (controller), ``line311-w1`` (worker 1)."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """JSON-able (checked when sent)."""


def encode_message(message: DeskMessage) -> dict[str, Any]:
    """``message`` as a JSON object (its body is checked to be JSON when it is sent)."""
    if not isinstance(message, DeskMessage):
        raise DeskWireError(f"not a desk message: {message!r:.80}")
    _check_message(message.kind, message.call_id, message.sender, message.body)
    return {
        "kind": message.kind,
        "call_id": message.call_id,
        "sender": message.sender,
        "body": dict(message.body),
    }


def decode_message(obj: object) -> DeskMessage:
    """The message `encode_message` wrote, parsed from JSON (whose objects have string
    keys); `DeskWireError` for anything else."""
    if not isinstance(obj, Mapping):
        raise DeskWireError(f"desk message: a JSON object expected, not {obj!r:.80}")
    if set(obj) != {"kind", "call_id", "sender", "body"}:
        raise DeskWireError(f"desk message: keys kind, call_id, sender, body, not {sorted(obj)}")
    kind, call_id, sender, body = obj["kind"], obj["call_id"], obj["sender"], obj["body"]
    _check_message(kind, call_id, sender, body, keys=False)  # JSON's keys are strings
    return DeskMessage(kind, call_id, sender, dict(body))


def _check_message(
    kind: object, call_id: object, sender: object, body: object, *, keys: bool = True
) -> None:
    """Raise `DeskWireError` for a malformed message (``keys``: check that the body's keys
    are strings, which a decoded JSON object's always are)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise DeskWireError(f"desk message: unknown kind {kind!r:.80}")
    if not isinstance(call_id, str):
        raise DeskWireError(f"desk message: call_id must be a string, not {call_id!r:.80}")
    if not isinstance(sender, str) or not sender:
        raise DeskWireError(f"desk message: sender must be an app name, not {sender!r:.80}")
    if not isinstance(body, Mapping) or (keys and not all(isinstance(k, str) for k in body)):
        raise DeskWireError(f"desk message: body must be a JSON object, not {body!r:.80}")


def _refuse(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


_DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _has_non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _message_text(message: DeskMessage) -> bytes:
    """``message`` as compact JSON; `DeskWireError` when it is not JSON (orjson writes a
    NaN as null: a null in the text makes us look for one)."""
    obj = encode_message(message)
    try:
        text = orjson.dumps(obj, default=_refuse, option=_DUMP_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise DeskWireError(f"desk message for call {message.call_id}: not JSON ({exc})") from None
    if b"null" in text and _has_non_finite(obj["body"]):
        raise DeskWireError(f"desk message for call {message.call_id}: not JSON (NaN or infinity)")
    return text


# ---------------------------------------------------------------------- the link
def _stop_if_cancelled(cause: BaseException | None = None) -> None:
    """Raise `asyncio.CancelledError` when this task was asked to stop and the request got
    lost on the way: Python 3.11's ``asyncio.wait_for`` (redis-py sends each command in one)
    returns the result of an inner task that finished as the cancel came, dropping the cancel,
    and a cancelled read can come back as a ConnectionError. A loop that went on would never
    stop (``task.cancelling()`` still says it should)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause


_Queued = tuple[str, int, bytes]
"""(destination app, sequence number, message text)."""


class DeskLink:
    """One process's end of the desk link: its inbox (`messages`) and its writer (`send`,
    `run`). See the module docstring."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        me: str,
        prefix: str = DEFAULT_PREFIX,
        max_len: int = 100_000,
        backlog: int = 100_000,
        retry: float = 0.5,
        retry_max: float = 5.0,
        block_ms: int = 1_000,
        count: int = 100,
    ) -> None:
        if not me:
            raise ValueError("a desk link needs its app name (me)")
        self.client: Any = client
        self.me = me
        self.prefix = prefix
        self.max_len = max_len
        self.backlog = backlog
        self._retry = retry
        self._retry_max = retry_max
        self._block_ms = block_ms
        self._count = count
        self.boot = secrets.token_hex(8)
        """This process's id on the wire (its sequence numbers start again with a new one)."""
        # writing
        self._queue: deque[_Queued] = deque()
        self._inflight = 0
        self._seqs: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()
        """Set (and replaced) after each pass of the writer: `flush` waits on it."""
        self._write_failing = False
        self._dropped_in_outage = 0
        self.dropped = 0
        self.sent: Counter[str] = Counter()
        """Messages sent, by kind (`DeskMessage.kind`)."""
        self.entries_written = 0
        """Stream entries written (each holds one pass's messages for one inbox)."""
        # reading
        self.received: Counter[str] = Counter()
        """Messages read from this process's inbox, by kind (duplicates not counted)."""
        self.reads = 0
        """``XREAD`` replies that brought entries (each wakes the reader once)."""
        self._last: str | None = None
        self._pending: deque[DeskMessage] = deque()
        self._seen: dict[tuple[str, str], int] = {}
        self._read_failing = False

    def inbox(self, app: str) -> str:
        """The stream ``app`` reads."""
        return f"{self.prefix}desk:{app}"

    @property
    def queued(self) -> int:
        """Messages sent and not yet written (those being written included)."""
        return len(self._queue) + self._inflight

    # ------------------------------------------------------------------ writing
    def send(self, to: str, message: DeskMessage) -> None:
        """Queue ``message`` for ``to``'s inbox; never waits, never fails on Redis. A
        message that is not JSON raises `DeskWireError` here."""
        if not to:
            raise DeskWireError("a desk message needs the app it goes to")
        text = _message_text(message)
        seq = self._seqs[to] = self._seqs.get(to, 0) + 1
        self._queue.append((to, seq, text))
        self.sent[message.kind] += 1
        self._trim()
        self._wake.set()

    def _trim(self) -> None:
        """Drop the oldest past ``backlog`` (what is being written is not counted)."""
        over = len(self._queue) - self.backlog
        if over <= 0:
            return
        for _ in range(over):
            self._queue.popleft()
        self.dropped += over
        if not self._dropped_in_outage:
            logger.error(
                "desk link: more than %d messages wait for Redis; the oldest are dropped",
                self.backlog,
            )
        self._dropped_in_outage += over

    def _entries(self, batch: deque[_Queued]) -> list[tuple[str, dict[str, str | bytes]]]:
        """One entry per destination (in order; more past ENTRY_MAX messages or at a gap in
        the sequence numbers, which the reader reads as consecutive)."""
        by_app: dict[str, list[tuple[int, bytes]]] = {}
        for to, seq, text in batch:
            by_app.setdefault(to, []).append((seq, text))
        entries = []
        for to, items in by_app.items():
            start = 0
            for i in range(1, len(items) + 1):
                if i < len(items) and i - start < ENTRY_MAX and items[i][0] == items[i - 1][0] + 1:
                    continue
                chunk = items[start:i]
                entry: dict[str, str | bytes] = {
                    "from": self.me,
                    "boot": self.boot,
                    "n": str(chunk[0][0]),
                    "m": b"[" + b",".join(text for _, text in chunk) + b"]",
                }
                entries.append((self.inbox(to), entry))
                start = i
        return entries

    async def _write(self, batch: deque[_Queued]) -> None:
        pipe = self.client.pipeline(transaction=False)
        entries = self._entries(batch)
        for key, entry in entries:
            pipe.xadd(key, entry, maxlen=self.max_len, approximate=True)
        async with mapped_errors("desk link write"):
            await pipe.execute()
        self.entries_written += len(entries)

    async def run(self) -> None:
        """The writer task: write what `send` queues, for ever (until cancelled)."""
        delay = self._retry
        while True:
            _stop_if_cancelled()
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._queue = self._queue, deque()
            self._inflight = len(batch)
            try:
                await self._write(batch)
            except BaseException as exc:
                self._inflight = 0
                batch.extend(self._queue)  # in front of what came meanwhile
                self._queue = batch
                if not isinstance(exc, Exception):
                    raise  # cancelled: what was taken stays queued
                _stop_if_cancelled(exc)
                self._trim()
                if not self._write_failing:
                    logger.warning(
                        "desk link: %d message(s) not written (%s); kept, tried again",
                        len(self._queue),
                        exc,
                    )
                self._write_failing = True
                self._pass_done()
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            self._inflight = 0
            if self._write_failing:
                logger.info(
                    "desk link: messages are written again (%d dropped while Redis was away)",
                    self._dropped_in_outage,
                )
                self._write_failing = False
                delay = self._retry
            self._dropped_in_outage = 0
            self._pass_done()

    def _pass_done(self) -> None:
        passed, self._passed = self._passed, asyncio.Event()
        passed.set()

    async def flush(self, within: float) -> bool:
        """Wake the writer and wait until nothing is queued (True) or ``within`` seconds
        passed (False). The writer (`run`) must be running."""
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.queued:
                    await self._passed.wait()
        return not self.queued

    # ------------------------------------------------------------------ epochs
    async def take_epoch(self, now_ms: int | None = None) -> str:
        """A new epoch for this process, greater than any taken before (`new_epoch`). Raises
        `LiveUnavailableError` when Redis is away."""
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        async with mapped_errors("desk link epoch"):
            number = await self.client.eval(_TAKE_EPOCH, 1, f"{self.prefix}desk:epoch", now)
        return new_epoch(int(number), self.boot)

    # ------------------------------------------------------------------ reading
    async def open(self) -> None:
        """Note where this process's inbox ends now: `messages` yields what comes after.
        Raises `LiveUnavailableError` when Redis is away."""
        async with mapped_errors("desk link open"):
            last = await self.client.xrevrange(self.inbox(self.me), "+", "-", count=1)
        self._last = str(last[0][0]) if last else "0-0"
        self._pending.clear()

    async def messages(self) -> AsyncGenerator[DeskMessage, None]:
        """This process's messages, in order, for ever (`open` first if it was not)."""
        key = self.inbox(self.me)
        delay = self._retry
        while True:
            _stop_if_cancelled()  # (what was read stays for the next `messages`)
            while self._pending:
                yield self._pending.popleft()
            try:
                if self._last is None:
                    await self.open()
                async with mapped_errors("desk link read"):
                    reply = await self.client.xread(
                        {key: self._last}, count=self._count, block=self._block_ms
                    )
            except Exception as exc:
                _stop_if_cancelled(exc)
                if not self._read_failing:
                    logger.warning("desk link: inbox %s not read (%s); tried again", key, exc)
                self._read_failing = True
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            if self._read_failing:
                logger.info("desk link: inbox %s is read again", key)
                self._read_failing = False
                delay = self._retry
            if reply:
                self.reads += 1
            for entry_id, entry in reply[0][1] if reply else ():
                self._last = str(entry_id)
                self._pending.extend(self._decoded_entry(key, entry_id, entry))

    def _decoded_entry(self, key: str, entry_id: str, entry: Any) -> list[DeskMessage]:
        try:
            writer = (str(entry["from"]), str(entry["boot"]))
            first = int(entry["n"])
            items = orjson.loads(entry["m"])
            if not isinstance(items, list) or first < 1:
                raise ValueError("not a list of messages after a sequence number")
        except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            logger.warning(
                "desk link: malformed entry %s in %s skipped (%s): %.200r",
                entry_id,
                key,
                exc,
                entry,
            )
            return []
        last = self._seen.pop(writer, 0)  # (popped: re-inserted as the latest writer)
        out = []
        for seq, item in enumerate(items, start=first):
            if seq <= last:
                continue  # written again after a lost reply: delivered already
            try:
                message = decode_message(item)
            except DeskWireError as exc:
                logger.warning(
                    "desk link: malformed message in %s skipped (%s): %.200r", key, exc, item
                )
                continue
            self.received[message.kind] += 1
            out.append(message)
        self._seen[writer] = max(last, first + len(items) - 1)
        if len(self._seen) > _SEEN_MAX:
            del self._seen[next(iter(self._seen))]
        return out
