"""Write-behind of the live figures' facts and the CCRs' states to Redis, and their read-back
at start, so a controller restart keeps today's wallboard and every CCR's sign-in (issue 12,
points 1, 6 and 7).

The controller keeps deciding and counting in memory (router, wallboard, desk figures); this
module copies to Redis what must outlive the process and hands it back to the next one:

* every fact the figures fold (queue events, IVR exits) goes to one sorted set per day,
  ``<prefix>facts:<day start>``, score = the fact's ``at``, member = ``<boot>.<n> <json>``.
  Members are unique, so a write retried after a lost reply adds nothing twice (ZADD is
  idempotent), and they read back in time order (ties in write order, a later process
  after an earlier one). Each day's set expires ``keep_days`` after its last write.
* each CCR's record (`Agent.to_dict`) goes to the hash ``<prefix>agents``, field = agent id;
  the changes of one CCR between two flushes are coalesced into its latest record.
* with ``stream_types`` (the dashboard runs as its own process), every wallboard fact -- those
  above and the ones not kept for the day (a call entering the IVR, an alert, a goal change) --
  is also appended to the stream ``<prefix>wallboard``: one entry per flush (its members, one
  per line, field ``m``; one XADD costs far less than one per fact), in the same MULTI as the
  ZADD, trimmed to about ``stream_max`` entries. The dashboard process reads the day back with
  `load` (the facts and the stream's last id, in one MULTI: one consistent cut) and then
  `follow` s the stream from that id, so it sees each fact exactly once.

Writing never blocks or fails a call: `on_fact` and `on_agent` only queue in memory, `run`
flushes ``interval`` seconds after the first of them (and sleeps while nothing is queued).
While Redis is away the writes wait (at most ``max_pending`` facts; past it the oldest are
dropped, logged as ERROR), `up` is False with the reason (for /health and
``line311_live_state_up``) and the outage is logged once (WARNING); once Redis answers again
the backlog is written and that is logged once (INFO). A PING every ``probe_every`` seconds
notices an outage when nothing is being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import tzinfo
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from line311.live.errors import LiveError, LiveStateError
from line311.live.routing import DEFAULT_PREFIX, mapped_errors
from line311.queue.days import local_day_start
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.routing.agents import Agent

__all__ = ["LiveJournal", "Restored", "decode_fact", "encode_fact", "open_calls"]

logger = logging.getLogger(__name__)


class Timed(Protocol):
    """A fact: a frozen dataclass with an ``at`` (POSIX seconds)."""

    @property
    def at(self) -> float: ...


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def encode_fact(fact: Timed) -> str:
    """``fact`` as one JSON object with its type name (enums as their values).

    Facts are flat (text, numbers, flags): orjson writes them (the stdlib's encoder was 3 %
    of the controller at 800 queued calls/s), and a float that is not finite is refused
    here, as JSON has no such number (orjson would write ``null``)."""
    cls = type(fact)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not is_dataclass(fact):
            raise LiveStateError(f"not a fact: {fact!r}")
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(fact))
    body: dict[str, Any] = {"type": cls.__name__}
    for name in names:
        value = getattr(fact, name)
        if type(value) is float and not math.isfinite(value):
            raise LiveStateError(f"{cls.__name__} is not JSON ({name} = {value})")
        body[name] = value
    try:
        return orjson.dumps(body).decode()
    except orjson.JSONEncodeError as exc:
        raise LiveStateError(f"{cls.__name__} is not JSON ({exc})") from None


def decode_fact(text: str, types: Mapping[str, type[Any]]) -> Any | None:
    """The fact `encode_fact` wrote, or None for a type not in ``types`` (or unreadable)."""
    try:
        body = json.loads(text)
        cls = types.get(body.pop("type"))
        if cls is None:
            return None
        if cls is AgentStateChanged:
            body["state"] = AgentActivity(body["state"])
        return cls(**body)
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.error("unreadable stored fact skipped: %.200s", text)
        return None


def open_calls(facts: Iterable[object]) -> dict[str, str]:
    """Calls still waiting after ``facts`` (enqueued, not yet answered, abandoned or timed
    out): call id -> queue."""
    waiting: dict[str, str] = {}
    for fact in facts:
        if isinstance(fact, CallEnqueued):
            waiting[fact.call_id] = fact.queue
        elif isinstance(fact, CallAnswered | CallAbandoned | CallTimedOut | CallCompleted):
            waiting.pop(fact.call_id, None)
    return waiting


@dataclass(frozen=True, slots=True)
class Restored:
    """What a starting controller reads back: the facts of today (and the end of
    yesterday) in time order, and each CCR's last record by agent id."""

    facts: list[Any]
    agents: dict[str, dict[str, Any]]
    position: str = "0-0"
    """The wallboard stream's last id when the facts were read (`LiveJournal.follow` from it)."""


class LiveJournal:
    """See the module docstring. ``types``: the fact classes kept (by class name)."""

    def __init__(
        self,
        client: aioredis.Redis,
        types: Iterable[type[Any]],
        *,
        tz: tzinfo,
        prefix: str = DEFAULT_PREFIX,
        interval: float = 0.2,
        probe_every: float = 1.0,
        retry_every: float = 1.0,
        keep_days: int = 3,
        max_pending: int = 200_000,
        batch: int = 2_000,
        stream_types: Iterable[type[Any]] = (),
        stream_max: int = 10_000,
    ) -> None:
        self.client: Any = client
        self.types = {cls.__name__: cls for cls in types}
        self.stream_types = {cls.__name__: cls for cls in stream_types}
        self.readable = {**self.stream_types, **self.types}
        self.stream_max = stream_max
        self.tz = tz
        self.prefix = prefix
        self.interval = interval
        self.probe_every = probe_every
        self.retry_every = retry_every
        self.keep = keep_days * 86_400
        self.max_pending = max_pending
        self.batch = batch
        self._boot = f"{int(time.time() * 1000):013d}"
        self._n = 0
        # (key or None: not kept for the day, score, member)
        self._facts: deque[tuple[str | None, float, str]] = deque()
        self._agents: dict[str, Agent] = {}
        self._day: tuple[float, float, str] = (0.0, 0.0, "")
        """The day of the last fact: its start, the next day's start, its key."""
        self._more = asyncio.Event()
        """Set past ``batch`` pending facts: flush now."""
        self._queued = asyncio.Event()
        """Set by every queued write: `run` wakes from idle."""
        self._probed = 0.0
        self.up = True
        self.reason: str | None = None
        self.dropped = 0
        self.written = 0

    @property
    def agents_key(self) -> str:
        return self.prefix + "agents"

    @property
    def stream_key(self) -> str:
        return self.prefix + "wallboard"

    def day_start(self, at: float) -> float:
        """Start of the calendar day (in ``tz``) holding ``at``."""
        return local_day_start(at, self.tz)

    def _facts_key(self, at: float) -> str:
        lo, hi, key = self._day
        if lo <= at < hi:  # every fact of a day: no calendar sums per fact
            return key
        start = self.day_start(at)
        key = f"{self.prefix}facts:{start:.0f}"
        # the next day starts 23 to 25 hours later (daylight saving): 30 h is inside it
        self._day = (start, self.day_start(start + 30 * 3600), key)
        return key

    @property
    def pending(self) -> int:
        """Writes not yet in Redis (facts, and CCRs with a newer record)."""
        return len(self._facts) + len(self._agents)

    # ------------------------------------------------------------------ writing (sync)
    def on_fact(self, fact: object, measurements: object = None) -> None:
        """Keep ``fact`` if it is one of ``types`` (or stream it if one of ``stream_types``;
        a `LiveHub` listener's signature)."""
        name = type(fact).__name__
        if name not in self.readable or not hasattr(fact, "at"):
            return
        self._n += 1
        member = f"{self._boot}.{self._n:010d} {encode_fact(fact)}"
        at = float(fact.at)
        self._facts.append((self._facts_key(at) if name in self.types else None, at, member))
        if len(self._facts) > self.max_pending:
            self._facts.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                logger.error("live figures: Redis away too long, %d facts dropped", self.dropped)
        self._queued.set()
        if len(self._facts) >= self.batch:
            self._more.set()

    def on_agent(self, agent: Agent) -> None:
        """Note that ``agent`` changed (its latest record is written at the next flush, with
        the facts of that moment: a CCR's ringing, answering and wrap-up are one write, not
        a round trip each)."""
        self._agents[agent.agent_id] = agent
        self._queued.set()

    # ------------------------------------------------------------------ flushing
    async def flush(self) -> int:
        """Write what is pending (one round trip per batch); returns the writes made.
        Raises `LiveUnavailableError` (what was not written stays pending)."""
        done = 0
        while self._facts or self._agents:
            facts = [self._facts[i] for i in range(min(self.batch, len(self._facts)))]
            agents, self._agents = self._agents, {}
            try:
                await self._write(facts, agents)
            except BaseException:
                for agent_id, agent in agents.items():
                    self._agents.setdefault(agent_id, agent)
                raise
            for _ in facts:
                self._facts.popleft()
            done += len(facts) + len(agents)
        self.written += done
        return done

    async def _write(
        self, facts: list[tuple[str | None, float, str]], agents: dict[str, Agent]
    ) -> None:
        streaming = bool(self.stream_types)
        # streaming: one MULTI, so a reader's cut (`load`) sees a fact in both or in neither
        pipe = self.client.pipeline(transaction=streaming)
        by_key: dict[str, dict[str, float]] = {}
        for key, score, member in facts:
            if key is not None:
                by_key.setdefault(key, {})[member] = score
        for key, members in by_key.items():
            pipe.zadd(key, members)
            pipe.expire(key, self.keep)
        if streaming and facts:  # (a member's JSON has no raw newline)
            lines = "\n".join(member for _, _, member in facts)
            pipe.xadd(self.stream_key, {"m": lines}, maxlen=self.stream_max, approximate=True)
            pipe.expire(self.stream_key, self.keep)
        if agents:
            records = {agent_id: orjson.dumps(a.to_dict()) for agent_id, a in agents.items()}
            pipe.hset(self.agents_key, mapping=records)
        async with mapped_errors("live journal write"):
            await pipe.execute()

    async def check(self) -> None:
        """Flush, or PING when there is nothing to write and none was sent lately; sets `up`."""
        try:
            if self.pending:
                await self.flush()
            elif time.monotonic() - self._probed >= self.probe_every or not self.up:
                self._probed = time.monotonic()
                async with mapped_errors("live journal ping"):
                    await self.client.ping()
        except LiveError as exc:
            self._went_down(str(exc))
            raise
        self._came_back()

    def _went_down(self, reason: str) -> None:
        if self.up:
            logger.warning(
                "live state: Redis is away (%s); figures and CCR states kept in memory "
                "and written when it is back",
                reason,
            )
        self.up = False
        self.reason = reason

    def _came_back(self) -> None:
        if not self.up:
            logger.info("live state: Redis is back; the figures and CCR states are written")
        self.up = True
        self.reason = None

    async def run(self) -> None:
        """Flush ``interval`` seconds after the first write is queued (sooner past ``batch``
        facts) until cancelled; with nothing to write, sleep until something is queued or the
        next PING is due (an idle controller does not wake every ``interval``)."""
        while True:
            try:
                await self.check()
            except LiveError:
                await asyncio.sleep(self.retry_every)
                continue
            if not self.pending:
                self._queued.clear()
                due = self._probed + self.probe_every - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, due)):
                        await self._queued.wait()
                if not self.pending:
                    continue  # the PING is due
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # no task per turn, as wait_for makes
                    await self._more.wait()
            self._more.clear()

    # ------------------------------------------------------------------ reading back
    async def load(self, now: float, *, lookback: float = 7_200.0) -> Restored:
        """Today's facts (in the time zone ``tz``), the last ``lookback`` seconds of
        yesterday's (calls that span midnight), and every CCR's record."""
        today = self.day_start(now)
        ranges = [
            (self._facts_key(self.day_start(today - 1.0)), str(today - lookback)),
            (self._facts_key(today), "-inf"),
        ]
        # one MULTI: the day's facts and the stream's position are one consistent cut
        pipe = self.client.pipeline(transaction=True)
        pipe.xrevrange(self.stream_key, count=1)
        for key, since in ranges:
            pipe.zrangebyscore(key, since, "+inf")
        pipe.hgetall(self.agents_key)
        async with mapped_errors("live journal load"):
            last, *members, raw = await pipe.execute()
        facts = _facts_of((m for day in members for m in day), self.types)
        agents: dict[str, dict[str, Any]] = {}
        for agent_id, text in raw.items():
            try:
                record = json.loads(text)
            except ValueError:
                logger.error("unreadable stored record of CCR %s skipped", agent_id)
                continue
            if isinstance(record, dict):
                agents[agent_id] = record
        return Restored(facts, agents, str(last[0][0]) if last else "0-0")

    async def follow(
        self, after: str, *, block_ms: int = 1_000, count: int = 100
    ) -> tuple[str, list[Any]]:
        """The wallboard facts streamed after the id ``after`` (waiting up to ``block_ms``
        for the first), and the id to follow from next. Raises `LiveUnavailableError`."""
        async with mapped_errors("wallboard stream read"):
            reply = await self.client.xread({self.stream_key: after}, count=count, block=block_ms)
        facts: list[Any] = []
        for _, entries in reply or ():
            for entry_id, values in entries:
                after = str(entry_id)
                facts += _facts_of(str(values.get("m", "")).split("\n"), self.readable)
        return after, facts


def _facts_of(members: Iterable[str], types: Mapping[str, type[Any]]) -> list[Any]:
    """The facts in stored members (``<boot>.<n> <json>``), those of ``types`` only."""
    facts = (decode_fact(member.partition(" ")[2], types) for member in members)
    return [fact for fact in facts if fact is not None]
