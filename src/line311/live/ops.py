"""Each change to the shared routing state as a value: which script, its arguments, and how
to read its reply (pure: no I/O; `LiveRouting` runs them alone or many per round trip).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from line311.live import codec, scripts
from line311.routing.agents import AgentEvent, AgentState
from line311.routing.waiting import WaitingCall

__all__ = ["SCRIPTS", "SHAS", "Op", "Ops", "Refusal", "Reserved"]

T = TypeVar("T")

SCRIPTS: dict[str, str] = {
    "reserve": scripts.RESERVE,
    "reserve_head": scripts.RESERVE_HEAD,
    "reserve_best": scripts.RESERVE_BEST,
    "accept": scripts.ACCEPT,
    "release": scripts.RELEASE,
    "expire": scripts.EXPIRE,
    "remove": scripts.REMOVE_CALL,
    "add": scripts.ADD_CALL,
    "update": scripts.UPDATE_CALL,
    "register": scripts.REGISTER,
    "agent": scripts.AGENT,
    "timers": scripts.POP_TIMERS,
}
SHAS = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in SCRIPTS.items()}
"""What EVALSHA names each script by (Redis computes the same SHA-1 on SCRIPT LOAD)."""


class Refusal(enum.Enum):
    """Why a reservation was not made (nothing changed)."""

    NO_CALL = "no-call"
    CALL_TAKEN = "call-taken"
    AGENT_BUSY = "agent-busy"
    NOT_FIRST = "not-first"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Reserved:
    """A reservation made: ring ``agent_id`` for ``call_id`` until ``expires_at``."""

    call_id: str
    agent_id: str
    queue: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One script call: ``argv`` for EVALSHA (no keys) and the reply's reader."""

    script: str
    argv: tuple[Any, ...]
    parse: Callable[[Any], T]


def _f(value: float) -> str:
    return repr(float(value))


def _flag(out: Any) -> bool:
    return bool(out[0]) if isinstance(out, list) else bool(out)


class Ops:
    """Builds `Op`s for one key prefix, journal length and offer TTL."""

    def __init__(self, prefix: str, journal: int, offer_ttl: float) -> None:
        self.prefix = prefix
        self.journal = str(int(journal))
        self.offer_ttl = offer_ttl
        self._ttl_ms = max(1, int(offer_ttl * 1000))

    def _op(self, script: str, now: float, parse: Callable[[Any], T], *args: Any) -> Op[T]:
        return Op(script, (self.prefix, self.journal, _f(now), *args), parse)

    def _reserved(self, now: float) -> Callable[[Any], Reserved | Refusal]:
        expires = now + self.offer_ttl

        def parse(out: Any) -> Reserved | Refusal:
            if not out[0]:
                return Refusal(out[1])
            return Reserved(out[1], out[2], out[3], expires)

        return parse

    # -- calls
    def add_call(self, call: WaitingCall, now: float) -> Op[bool]:
        return self._op(
            "add",
            now,
            bool,
            call.call_id,
            call.queue,
            codec.lane_of(call),
            _f(call.rank),
            codec.member_of(call),
            codec.call_record(call),
        )

    def update_call(self, call: WaitingCall, now: float) -> Op[bool]:
        lane, record = codec.lane_of(call), codec.call_record(call)
        return self._op("update", now, bool, call.call_id, lane, record)

    def remove_call(self, call_id: str, now: float) -> Op[tuple[WaitingCall, str | None] | None]:
        def parse(out: Any) -> tuple[WaitingCall, str | None] | None:
            if not out[0]:
                return None
            return codec.call_from_record(out[1], None, int(out[2])), out[3] or None

        return self._op("remove", now, parse, call_id)

    # -- the contended step
    def reserve(
        self, call_id: str, agent_id: str, now: float, in_order: bool = False
    ) -> Op[Reserved | Refusal]:
        deadline = _f(now + self.offer_ttl)
        return self._op(
            "reserve",
            now,
            self._reserved(now),
            call_id,
            agent_id,
            self._ttl_ms,
            deadline,
            "1" if in_order else "0",
        )

    def reserve_head(self, lane: str, agents: Sequence[str], now: float) -> Op[Reserved | Refusal]:
        deadline = _f(now + self.offer_ttl)
        parse = self._reserved(now)
        return self._op("reserve_head", now, parse, lane, self._ttl_ms, deadline, *agents)

    def reserve_best(
        self, agent_id: str, lanes: Sequence[str], now: float
    ) -> Op[Reserved | Refusal]:
        deadline = _f(now + self.offer_ttl)
        parse = self._reserved(now)
        return self._op("reserve_best", now, parse, agent_id, self._ttl_ms, deadline, *lanes)

    def accept(self, call_id: str, agent_id: str, now: float) -> Op[WaitingCall | None]:
        def parse(out: Any) -> WaitingCall | None:
            if not out[0]:
                return None
            return codec.call_from_record(out[1], agent_id, int(out[2]))

        return self._op("accept", now, parse, call_id, agent_id)

    def release(
        self, call_id: str, agent_id: str, now: float, pause_reason: str | None, why: str
    ) -> Op[bool]:
        state = AgentState.PAUSED if pause_reason else AgentState.AVAILABLE
        return self._op(
            "release", now, _flag, call_id, agent_id, state.value, pause_reason or "", why
        )

    def expire_due(self, now: float, limit: int) -> Op[list[tuple[str, str]]]:
        def parse(out: Any) -> list[tuple[str, str]]:
            return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]

        return self._op("expire", now, parse, limit)

    # -- agents
    def register_agent(
        self, agent_id: str, profile: dict[str, Any], seq: int, now: float
    ) -> Op[bool]:
        text = json.dumps(profile, sort_keys=True)
        return self._op("register", now, bool, agent_id, text, seq)

    def agent_event(
        self,
        agent_id: str,
        event: AgentEvent,
        now: float,
        reason: str | None = None,
        wrapup_until: float | None = None,
    ) -> Op[tuple[AgentState, str | None] | str]:
        """The reply: (previous state, call put back) or, refused, the agent's state."""
        if event in (AgentEvent.RESERVE, AgentEvent.ACCEPT, AgentEvent.REJECT, AgentEvent.TIMEOUT):
            raise ValueError(f"{event.value} goes through reserve/accept/release")
        to = codec.target_of(event)
        if event is AgentEvent.HANG_UP and wrapup_until is None:
            to = AgentState.AVAILABLE

        def parse(out: Any) -> tuple[AgentState, str | None] | str:
            if not out[0]:
                return str(out[1])
            return AgentState(out[1]), out[2] or None

        wu = "" if wrapup_until is None else _f(wrapup_until)
        sources = codec.sources(event)
        return self._op("agent", now, parse, agent_id, to.value, reason or "", wu, *sources)

    def pop_due(self, now: float, limit: int) -> Op[list[tuple[float, str, str]]]:
        def parse(out: Any) -> list[tuple[float, str, str]]:
            due = []
            for i in range(0, len(out), 2):
                kind, _, ident = out[i].partition("|")
                due.append((float(out[i + 1]), kind, ident))
            return due

        return self._op("timers", now, parse, limit)
