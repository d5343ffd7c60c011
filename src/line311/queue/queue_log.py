"""Asterisk ``queue_log`` lines: format, parse, and translate to and from line311 queue events.

Existing queue reporting tools read Asterisk's queue log, one event per line::

    epoch|callid|queue|agent|EVENT|data1|data2|data3...

``callid`` is the caller channel's unique id (``NONE`` for agent events), ``agent`` the member
name (``NONE`` for caller events). The data fields are the ones Asterisk's app_queue writes
(docs.asterisk.org, Operation › Logging › Queue Logs):

    ENTERQUEUE       url|callerid|position            (position: added by recent Asterisk)
    CONNECT          holdtime|bridged channel uniqueid|ringtime (seconds)
    COMPLETECALLER   holdtime|calltime|origposition   (the caller hung up)
    COMPLETEAGENT    holdtime|calltime|origposition   (the agent hung up)
    ABANDON          position|origposition|waittime
    EXITWITHTIMEOUT  position|origposition|waittime
    EXITEMPTY        position|origposition|waittime
    EXITWITHKEY      key|position|origposition|waittime
    TRANSFER         extension|context|holdtime|calltime|origposition
    BLINDTRANSFER    extension|context|holdtime|calltime|origposition
    ATTENDEDTRANSFER method|data|holdtime|calltime|origposition
    RINGNOANSWER     ringtime (milliseconds)
    RINGCANCELED     ringtime (milliseconds; the caller hung up while the member rang)
    ADDMEMBER / REMOVEMEMBER / PAUSE reason / UNPAUSE reason / PAUSEALL reason /
    UNPAUSEALL reason / AGENTLOGIN channel / AGENTLOGOFF channel|logintime

Times and durations are whole seconds, as Asterisk writes them (``precise=True`` keeps
microseconds, which our own reports can use). line311 adds one event of its own,
``CALLBACKREQUESTED position|origposition|waittime``: the caller keeps their place and the call
is later CONNECTed (or ABANDONed) under the same callid; tools that do not know it skip it.

Caller privacy: ENTERQUEUE's callerid field is whatever the edge passes (a caller hash or
nothing) — never write a resident's number here.

Everything here is pure: writing the file is the edge's job.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from line311.queue.errors import QueueLogParseError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    OfferAnswered,
    QueueEvent,
    RingFact,
)
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS

__all__ = [
    "NONE",
    "QueueLogEvent",
    "QueueLogRecord",
    "QueueLogTranslator",
    "events_from_records",
    "format_line",
    "parse_line",
    "parse_lines",
]

NONE = "NONE"


class QueueLogEvent(enum.StrEnum):
    """Event names of Asterisk's queue_log (plus line311's CALLBACKREQUESTED)."""

    ENTERQUEUE = "ENTERQUEUE"
    CONNECT = "CONNECT"
    COMPLETECALLER = "COMPLETECALLER"
    COMPLETEAGENT = "COMPLETEAGENT"
    ABANDON = "ABANDON"
    EXITWITHTIMEOUT = "EXITWITHTIMEOUT"
    EXITEMPTY = "EXITEMPTY"
    EXITWITHKEY = "EXITWITHKEY"
    TRANSFER = "TRANSFER"
    BLINDTRANSFER = "BLINDTRANSFER"
    ATTENDEDTRANSFER = "ATTENDEDTRANSFER"
    RINGNOANSWER = "RINGNOANSWER"
    RINGCANCELED = "RINGCANCELED"
    AGENTDUMP = "AGENTDUMP"
    ADDMEMBER = "ADDMEMBER"
    REMOVEMEMBER = "REMOVEMEMBER"
    PAUSE = "PAUSE"
    UNPAUSE = "UNPAUSE"
    PAUSEALL = "PAUSEALL"
    UNPAUSEALL = "UNPAUSEALL"
    AGENTLOGIN = "AGENTLOGIN"
    AGENTLOGOFF = "AGENTLOGOFF"
    QUEUESTART = "QUEUESTART"
    CONFIGRELOAD = "CONFIGRELOAD"
    CALLBACKREQUESTED = "CALLBACKREQUESTED"


@dataclass(frozen=True, slots=True)
class QueueLogRecord:
    """One queue_log line. ``event`` is a plain string so unknown events survive a round trip."""

    time: float
    call_id: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()


def _clean(value: object) -> str:
    # A '|' or a line break inside a field would shift every later field of the line.
    return str(value).replace("|", " ").replace("\r", " ").replace("\n", " ")


def _seconds(value: float) -> str:
    return str(max(0, round(value)))


def format_line(record: QueueLogRecord, *, precise: bool = False) -> str:
    """The queue_log line (without a newline) for ``record``.

    The time is whole epoch seconds like Asterisk writes (rounded down); ``precise=True``
    writes microseconds.
    """
    stamp = f"{record.time:.6f}" if precise else str(math.floor(record.time))
    fields = [stamp, record.call_id or NONE, record.queue or NONE, record.agent or NONE]
    fields.append(record.event)
    fields.extend(record.data)
    return "|".join(_clean(f) for f in fields)


def parse_line(line: str, line_number: int | None = None) -> QueueLogRecord:
    """Read one queue_log line; raises `QueueLogParseError` when it is not one."""
    text = line.rstrip("\r\n")
    parts = text.split("|")
    if len(parts) < 5:
        raise QueueLogParseError(
            "expected at least 5 '|'-separated fields", line=text, line_number=line_number
        )
    try:
        stamp = float(parts[0])
    except ValueError:
        raise QueueLogParseError(
            "the first field is not an epoch time", line=text, line_number=line_number
        ) from None
    if not math.isfinite(stamp) or not parts[4]:
        raise QueueLogParseError("bad time or empty event name", line=text, line_number=line_number)
    return QueueLogRecord(
        time=stamp,
        call_id=parts[1],
        queue=parts[2],
        agent=parts[3],
        event=parts[4],
        data=tuple(parts[5:]),
    )


def parse_lines(lines: Iterable[str]) -> Iterator[QueueLogRecord]:
    """Read queue_log lines, skipping blank ones; errors name the line number."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_line(line, number)


# ---------------------------------------------------------------------- events -> lines
@dataclass(slots=True)
class _Visit:
    enqueued_at: float
    orig_position: int
    answered_at: float | None = None
    agent: str = NONE
    rang: tuple[str, float] | None = None  # (CCR, seconds) of the offer answered


@dataclass(slots=True)
class QueueLogTranslator:
    """Turns line311 queue events into queue_log records, remembering what Asterisk would know
    (when each call entered, its original position) to fill the data fields. Pure; one per
    controller. Agent events have no queue: they are written as PAUSEALL / UNPAUSEALL /
    AGENTLOGIN / AGENTLOGOFF with queue ``NONE``, as Asterisk does for all-queue actions.
    """

    _visits: dict[tuple[str, str], _Visit] = field(default_factory=dict)
    _waiting: dict[str, list[str]] = field(default_factory=dict)  # queue -> call ids in order
    _agents: dict[str, tuple[AgentActivity, float, float | None, str]] = field(default_factory=dict)
    """CCR -> (state, since, logged in at, pause reason)."""
    _forgot_at: float | None = None
    """Event time of the last sweep of visits whose end never came (`_forget`)."""

    def resume(
        self, event: CallEnqueued, answered_at: float | None = None, agent_id: str | None = None
    ) -> None:
        """A call another controller enqueued (and, with ``answered_at``, connected to
        ``agent_id``) goes on here: remember it without writing a line, so its later lines
        are written. Calls still waiting take their original positions in the order they
        are resumed."""
        key = (event.queue, event.call_id)
        if key in self._visits:
            return
        visit = _Visit(
            enqueued_at=event.at,
            orig_position=0,
            answered_at=answered_at,
            agent=agent_id if answered_at is not None and agent_id else NONE,
        )
        if answered_at is None:
            line = self._waiting.setdefault(event.queue, [])
            line.append(event.call_id)
            visit.orig_position = len(line)
        self._visits[key] = visit

    def records_for(
        self, event: QueueEvent, *, caller_id: str = "", member_uniqueid: str = ""
    ) -> list[QueueLogRecord]:
        """The queue_log records for ``event`` (none for facts queue_log has no line for)."""
        if isinstance(event, AgentStateChanged):
            return self._agent(event)
        key = (event.queue, event.call_id)
        if isinstance(event, CallEnqueued):
            self._forget(event.at)
            line = self._waiting.setdefault(event.queue, [])
            if key in self._visits:
                return []
            line.append(event.call_id)
            self._visits[key] = _Visit(enqueued_at=event.at, orig_position=len(line))
            return [self._rec(event, NONE, QueueLogEvent.ENTERQUEUE, "", caller_id, len(line))]
        visit = self._visits.get(key)
        if visit is None:
            return []
        wait = event.at - visit.enqueued_at
        if isinstance(event, CallAnswered):
            self._leave(key)
            visit.answered_at = event.at
            visit.agent = event.agent_id
            rang = visit.rang[1] if visit.rang and visit.rang[0] == event.agent_id else 0.0
            return [
                self._rec(
                    event,
                    event.agent_id,
                    QueueLogEvent.CONNECT,
                    _seconds(wait),
                    member_uniqueid,
                    _seconds(rang),
                )
            ]
        if isinstance(event, CallCompleted):
            self._visits.pop(key, None)
            hold = (visit.answered_at or event.at) - visit.enqueued_at
            name = (
                QueueLogEvent.COMPLETEAGENT
                if event.ended_by == "agent"
                else QueueLogEvent.COMPLETECALLER
            )
            call_time = event.talk_seconds + event.hold_seconds
            return [  # the CCR who took the call, as app_queue names its member
                self._rec(
                    event,
                    visit.agent,
                    name,
                    _seconds(hold),
                    _seconds(call_time),
                    visit.orig_position,
                )
            ]
        position = self._leave(key)
        if isinstance(event, CallbackRequested):
            return [
                self._rec(
                    event,
                    NONE,
                    QueueLogEvent.CALLBACKREQUESTED,
                    position,
                    visit.orig_position,
                    _seconds(wait),
                )
            ]
        self._visits.pop(key, None)
        if isinstance(event, CallAbandoned):
            name = QueueLogEvent.ABANDON
        else:
            name = (
                QueueLogEvent.EXITEMPTY
                if event.reason == "empty"
                else QueueLogEvent.EXITWITHTIMEOUT
            )
        return [self._rec(event, NONE, name, position, visit.orig_position, _seconds(wait))]

    def ring(self, fact: RingFact) -> list[QueueLogRecord]:
        """``RINGNOANSWER|ringtime`` (milliseconds) for an offer that rang out or could not
        ring, as app_queue writes for a ring-out and for a busy or unavailable member;
        ``RINGCANCELED|ringtime`` when the caller hung up while it rang. An answered offer
        writes nothing: its ring time goes into the CONNECT line that follows."""
        if isinstance(fact, OfferAnswered):
            visit = self._visits.get((fact.queue, fact.call_id))
            if visit is not None:
                visit.rang = (fact.agent_id, fact.ring_seconds)
            return []
        ring_ms = max(0, round(fact.ring_seconds * 1000))
        name = QueueLogEvent.RINGCANCELED if fact.canceled else QueueLogEvent.RINGNOANSWER
        return [
            QueueLogRecord(fact.at, fact.call_id, fact.queue, fact.agent_id, name, (str(ring_ms),))
        ]

    def _forget(self, now: float) -> None:
        """Once an hour of event time, drop the visits that entered more than `KEEP_CALLS`
        ago: a call whose end never came (its leg died unrecorded) would stay for good."""
        if self._forgot_at is None:
            self._forgot_at = now
        if now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        horizon = now - KEEP_CALLS
        for key in [k for k, v in self._visits.items() if v.enqueued_at < horizon]:
            self._leave(key)
            del self._visits[key]

    def _leave(self, key: tuple[str, str]) -> int:
        queue, call_id = key
        line = self._waiting.get(queue, [])
        try:
            index = line.index(call_id)
        except ValueError:
            return 1  # already out of line (a callback being connected)
        del line[index]
        return index + 1

    @staticmethod
    def _rec(
        event: CallEnqueued
        | CallAnswered
        | CallAbandoned
        | CallTimedOut
        | CallbackRequested
        | CallCompleted,
        agent: str,
        name: QueueLogEvent,
        *data: object,
    ) -> QueueLogRecord:
        return QueueLogRecord(
            event.at, event.call_id, event.queue, agent, name, tuple(_clean(d) for d in data)
        )

    def _agent(self, event: AgentStateChanged) -> list[QueueLogRecord]:
        previous = self._agents.get(event.agent_id)
        prev_state = previous[0] if previous else AgentActivity.LOGGED_OUT
        login_at = previous[2] if previous else None
        out: list[QueueLogRecord] = []

        def rec(name: QueueLogEvent, *data: object) -> None:
            out.append(
                QueueLogRecord(
                    event.at, NONE, NONE, event.agent_id, name, tuple(_clean(d) for d in data)
                )
            )

        if prev_state is AgentActivity.LOGGED_OUT and event.state is not AgentActivity.LOGGED_OUT:
            rec(QueueLogEvent.AGENTLOGIN, event.agent_id)
            login_at = event.at
        if prev_state is AgentActivity.PAUSED and event.state not in (
            AgentActivity.PAUSED,
            AgentActivity.LOGGED_OUT,
        ):
            rec(QueueLogEvent.UNPAUSEALL, event.reason)
        if event.state is AgentActivity.PAUSED and (
            prev_state is not AgentActivity.PAUSED or (previous and previous[3] != event.reason)
        ):  # a pause for another reason is a PAUSE line again, as app_queue writes it
            rec(QueueLogEvent.PAUSEALL, event.reason)
        if event.state is AgentActivity.LOGGED_OUT and prev_state is not AgentActivity.LOGGED_OUT:
            rec(
                QueueLogEvent.AGENTLOGOFF,
                event.agent_id,
                _seconds(event.at - login_at) if login_at is not None else "0",
            )
            login_at = None
        self._agents[event.agent_id] = (event.state, event.at, login_at, event.reason)
        return out


# ---------------------------------------------------------------------- lines -> events
def _int_field(record: QueueLogRecord, index: int) -> float:
    try:
        return float(record.data[index])
    except (IndexError, ValueError):
        raise QueueLogParseError(
            f"{record.event} needs a number in data field {index + 1}",
            line=format_line(record, precise=True),
        ) from None


def events_from_records(records: Iterable[QueueLogRecord]) -> Iterator[QueueEvent]:
    """line311 queue events from queue_log records (ours or a real Asterisk's), so that
    existing logs can be measured with `line311.queue.intervals.IntervalAccumulator`.

    Language, topic and priority are not in queue_log: enqueued calls get the defaults.
    EXITWITHKEY (the caller chose to leave) counts as an abandon. Events that carry nothing
    for service level (RINGNOANSWER, CONFIGRELOAD ...) are skipped.

    A CCR's time on a call is read from the call's lines (queue_log has no state line for
    it): CONNECT puts the CCR on the call, its COMPLETE* or TRANSFER line ends it, and the
    CCR is then available, or paused when a PAUSE came during the call (as app_queue keeps
    a member paused). queue_log has no wrap-up.
    """
    on_call: set[str] = set()
    paused: dict[str, str] = {}  # CCRs paused now -> reason

    def after_call(agent: str, at: float) -> Iterator[QueueEvent]:
        if agent in on_call:
            on_call.discard(agent)
            if agent in paused:
                yield AgentStateChanged(agent, AgentActivity.PAUSED, at, paused[agent])
            else:
                yield AgentStateChanged(agent, AgentActivity.AVAILABLE, at)

    for r in records:
        name = r.event
        if name == QueueLogEvent.ENTERQUEUE:
            yield CallEnqueued(call_id=r.call_id, queue=r.queue, at=r.time)
        elif name == QueueLogEvent.CONNECT:
            yield CallAnswered(call_id=r.call_id, queue=r.queue, at=r.time, agent_id=r.agent)
            if r.agent != NONE:
                on_call.add(r.agent)
                yield AgentStateChanged(r.agent, AgentActivity.ON_CALL, r.time)
        elif name in (QueueLogEvent.COMPLETECALLER, QueueLogEvent.COMPLETEAGENT):
            yield CallCompleted(
                call_id=r.call_id,
                queue=r.queue,
                at=r.time,
                talk_seconds=_int_field(r, 1),
                ended_by="agent" if name == QueueLogEvent.COMPLETEAGENT else "caller",
            )
            yield from after_call(r.agent, r.time)
        elif name in (
            QueueLogEvent.TRANSFER,
            QueueLogEvent.BLINDTRANSFER,
            QueueLogEvent.ATTENDEDTRANSFER,
        ):
            yield CallCompleted(
                call_id=r.call_id,
                queue=r.queue,
                at=r.time,
                talk_seconds=_int_field(r, 3),
                ended_by="agent",
            )
            yield from after_call(r.agent, r.time)
        elif name in (QueueLogEvent.ABANDON, QueueLogEvent.EXITWITHKEY):
            yield CallAbandoned(call_id=r.call_id, queue=r.queue, at=r.time)
        elif name == QueueLogEvent.EXITWITHTIMEOUT:
            yield CallTimedOut(call_id=r.call_id, queue=r.queue, at=r.time, reason="max-wait")
        elif name == QueueLogEvent.EXITEMPTY:
            yield CallTimedOut(call_id=r.call_id, queue=r.queue, at=r.time, reason="empty")
        elif name == QueueLogEvent.CALLBACKREQUESTED:
            yield CallbackRequested(call_id=r.call_id, queue=r.queue, at=r.time)
        elif name in (QueueLogEvent.PAUSE, QueueLogEvent.PAUSEALL):
            reason = r.data[0] if r.data else ""
            paused[r.agent] = reason
            if r.agent not in on_call:  # during a call: paused once it ends
                yield AgentStateChanged(r.agent, AgentActivity.PAUSED, r.time, reason)
        elif name in (QueueLogEvent.UNPAUSE, QueueLogEvent.UNPAUSEALL):
            paused.pop(r.agent, None)
            if r.agent not in on_call:
                yield AgentStateChanged(r.agent, AgentActivity.AVAILABLE, r.time)
        elif name in (QueueLogEvent.AGENTLOGIN, QueueLogEvent.ADDMEMBER):
            paused.pop(r.agent, None)
            on_call.discard(r.agent)
            yield AgentStateChanged(r.agent, AgentActivity.AVAILABLE, r.time)
        elif name in (QueueLogEvent.AGENTLOGOFF, QueueLogEvent.REMOVEMEMBER):
            paused.pop(r.agent, None)
            on_call.discard(r.agent)
            yield AgentStateChanged(r.agent, AgentActivity.LOGGED_OUT, r.time)
