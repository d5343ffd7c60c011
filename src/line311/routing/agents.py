"""CCRs (agents): who they are, and the one state machine every agent follows.

Theory of operation
-------------------
An agent's state changes only through `Agent.apply`, which looks the pair
(state, `AgentEvent`) up in `TRANSITIONS`. A pair missing from the table raises
`AgentStateError` and changes nothing, so a confused edge cannot, say, put a CCR who is
talking to a caller back into the available pool::

                  LOGIN                RESERVE              ACCEPT
    logged_out ─────────▶ available ─────────▶ reserved ─────────▶ on_call
         ▲                 ▲ │  ▲ ▲   REJECT/TIMEOUT/CANCEL │          │ HANG_UP
         │ LOGOUT          │ │  │ └──────────────────────────┘          ▼
         │ (from any but   │ │  └──────────── WRAP_UP_DONE, RESUME ── wrap_up
         │  on_call)       │ │ PAUSE                                     │ PAUSE
         │                 │ ▼                                           ▼
         │        RESUME   paused(reason) ◀─────────────────────────────┘
         └──────────────── (PAUSE again only changes the reason)

Logging out while reserved is allowed (the router puts the offered call back in its
place); logging out on a call is not (end the call first). Auto-pause after unanswered
offers is a router policy (`AutoPausePolicy`) built from two table entries: the offer is
settled (REJECT/TIMEOUT → available), then PAUSE.

`Agent` also keeps the per-agent figures a wallboard shows: calls handled, idle since,
time spent in each state, unanswered offers.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from line311.call.values import is_record_name
from line311.routing.errors import AgentStateError, RoutingConfigError
from line311.routing.skills import SkillSet

__all__ = [
    "TRANSITIONS",
    "Agent",
    "AgentEvent",
    "AgentFigures",
    "AgentProfile",
    "AgentState",
    "AutoPausePolicy",
    "next_state",
]

logger = logging.getLogger(__name__)


class AgentState(enum.Enum):
    """Where a CCR is. ``AVAILABLE`` is the only state in which calls are offered."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class AgentEvent(enum.Enum):
    """What can happen to a CCR."""

    LOGIN = "login"
    LOGOUT = "logout"
    RESERVE = "reserve"
    """The router offers the CCR a call."""
    ACCEPT = "accept"
    REJECT = "reject"
    TIMEOUT = "timeout"
    """The offer rang out unanswered."""
    CANCEL = "cancel"
    """The caller left while the offer was ringing: not the CCR's fault."""
    HANG_UP = "hang_up"
    """Either side ended the call; wrap-up (after-call work) starts."""
    WRAP_UP_DONE = "wrap_up_done"
    PAUSE = "pause"
    RESUME = "resume"


_S = AgentState
_E = AgentEvent

TRANSITIONS: Mapping[tuple[AgentState, AgentEvent], AgentState] = MappingProxyType(
    {
        (_S.LOGGED_OUT, _E.LOGIN): _S.AVAILABLE,
        (_S.AVAILABLE, _E.RESERVE): _S.RESERVED,
        (_S.RESERVED, _E.ACCEPT): _S.ON_CALL,
        (_S.RESERVED, _E.REJECT): _S.AVAILABLE,
        (_S.RESERVED, _E.TIMEOUT): _S.AVAILABLE,
        (_S.RESERVED, _E.CANCEL): _S.AVAILABLE,
        (_S.ON_CALL, _E.HANG_UP): _S.WRAP_UP,
        (_S.WRAP_UP, _E.WRAP_UP_DONE): _S.AVAILABLE,
        (_S.WRAP_UP, _E.RESUME): _S.AVAILABLE,
        (_S.AVAILABLE, _E.PAUSE): _S.PAUSED,
        (_S.WRAP_UP, _E.PAUSE): _S.PAUSED,
        (_S.PAUSED, _E.PAUSE): _S.PAUSED,
        (_S.PAUSED, _E.RESUME): _S.AVAILABLE,
        (_S.AVAILABLE, _E.LOGOUT): _S.LOGGED_OUT,
        (_S.RESERVED, _E.LOGOUT): _S.LOGGED_OUT,
        (_S.WRAP_UP, _E.LOGOUT): _S.LOGGED_OUT,
        (_S.PAUSED, _E.LOGOUT): _S.LOGGED_OUT,
    }
)
"""The whole agent state machine: (state, event) -> next state. Nothing else moves agents."""


def next_state(agent_id: str, state: AgentState, event: AgentEvent) -> AgentState:
    """Look the transition up, raising `AgentStateError` for a pair the table lacks."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise AgentStateError(agent_id, state.value, event.value) from None


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """Who a CCR is: the static part, from the roster.

    ``endpoint`` is the PJSIP endpoint the controller originates to (``PJSIP/ccr-1001``).
    """

    agent_id: str
    name: str
    endpoint: str
    skills: SkillSet = field(default_factory=SkillSet)

    def __post_init__(self) -> None:
        if not isinstance(self.agent_id, str) or not is_record_name(self.agent_id):
            # the id goes into every call record the CCR takes: one the CRM bridge would
            # refuse would leave those records undeliverable
            raise RoutingConfigError(
                "agent id must be 1-64 letters, digits or . _ : @ - (starting with a letter or "
                f"digit), got {self.agent_id!r}"
            )
        if not self.endpoint:
            raise RoutingConfigError(
                "agent needs a PJSIP endpoint", where=f"agent {self.agent_id!r}"
            )
        if not isinstance(self.skills, SkillSet):
            object.__setattr__(self, "skills", SkillSet(self.skills))


@dataclass(frozen=True, slots=True)
class AutoPausePolicy:
    """When a CCR who does not answer offers is paused (Asterisk's ``autopause``).

    ``after_misses`` consecutive unanswered offers pause the CCR with ``reason``; 0 never
    pauses. ``count_rejections`` makes an explicit decline count as a miss too.

    An offer whose phone could not be rung at all (`Router.offer_unreachable`: not
    registered, Asterisk out of channels or media ports) is no miss: like Asterisk's queues
    (``autopauseunavail`` off), it never pauses the CCR for good. The CCR is paused with
    reason ``unreachable_reason`` for ``unreachable_hold`` seconds and then resumed by the
    router, so the calls go to the others meanwhile and a phone that stays unreachable is
    tried once per hold, not in a loop; when a whole Asterisk is short of ports, every CCR
    comes back by itself once it has them again. Each further unreachable offer in a row
    doubles the hold, up to ``unreachable_hold_max`` (`hold_for`): a CCR logged in with no
    phone (gone home without logging out) is tried ever less often, not every 10 s all day.
    The streak ends when the phone rings again, or the CCR resumes or logs out themselves.

    A CCR whose phone is known to have no registration (`Router.phone_state`: Asterisk's
    device state ``UNAVAILABLE``, like app_queue's member status) is never made available:
    whatever would make them so (logging in, resuming, the end of a wrap-up or of a hold)
    pauses them with ``offline_reason`` instead, and the phone's registration resumes them.
    So no call is offered to a phone that cannot ring, and no dial is spent finding out.
    """

    after_misses: int = 1
    reason: str = "no-answer"
    count_rejections: bool = True
    unreachable_hold: float = 10.0
    unreachable_reason: str = "unreachable"
    unreachable_hold_max: float = 300.0
    offline_reason: str = "phone-offline"

    def __post_init__(self) -> None:
        if self.after_misses < 0:
            raise RoutingConfigError("auto-pause after_misses must be >= 0")
        if not self.unreachable_hold > 0:
            raise RoutingConfigError("auto-pause unreachable_hold must be > 0 seconds")
        if not self.unreachable_hold_max >= self.unreachable_hold:
            raise RoutingConfigError("auto-pause unreachable_hold_max must be >= unreachable_hold")

    def hold_for(self, streak: int) -> float:
        """The hold after the ``streak``-th unreachable offer in a row (1: the first)."""
        doublings = min(max(streak, 1) - 1, 32)  # 2**32 holds are past any maximum
        return min(self.unreachable_hold * 2.0**doublings, self.unreachable_hold_max)


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """A snapshot of one CCR's live figures (for wallboards and the HTTP API)."""

    agent_id: str
    name: str
    state: AgentState
    pause_reason: str | None
    call_id: str | None
    calls_handled: int
    idle_since: float | None
    state_since: float
    time_in_state: Mapping[AgentState, float]
    consecutive_misses: int
    missed_offers: int


class Agent:
    """One CCR's live state. Mutated only by `apply` (and the bookkeeping around it).

    ``seq`` is the order in which the router first met the agent (round robin uses it).
    """

    __slots__ = (
        "call_id",
        "call_queue",
        "call_started_at",
        "calls_handled",
        "consecutive_misses",
        "idle_since",
        "missed_offers",
        "pause_reason",
        "phone_offline",
        "profile",
        "seq",
        "state",
        "state_since",
        "time_in_state",
        "unreachable_streak",
        "wrapup_until",
    )

    def __init__(self, profile: AgentProfile, *, seq: int, now: float) -> None:
        self.profile = profile
        self.seq = seq
        self.state = AgentState.LOGGED_OUT
        self.state_since = now
        self.pause_reason: str | None = None
        self.idle_since: float | None = None
        self.calls_handled = 0
        self.consecutive_misses = 0
        self.missed_offers = 0
        self.unreachable_streak = 0
        """Offers in a row whose phone could not be rung (see `AutoPausePolicy.hold_for`)."""
        self.phone_offline = False
        """The phone has no registration (`AgentSide.phone_state`): never made available."""
        self.call_id: str | None = None
        self.call_queue: str | None = None
        self.call_started_at: float | None = None
        self.wrapup_until: float | None = None
        self.time_in_state: dict[AgentState, float] = {}

    @property
    def agent_id(self) -> str:
        return self.profile.agent_id

    @property
    def skills(self) -> SkillSet:
        return self.profile.skills

    @property
    def logged_in(self) -> bool:
        return self.state is not AgentState.LOGGED_OUT

    def apply(self, event: AgentEvent, now: float, *, reason: str | None = None) -> AgentState:
        """Take ``event`` at ``now``; return the new state. Raises `AgentStateError`."""
        old = self.state
        new = next_state(self.agent_id, old, event)
        self.state = new
        pause_reason = (reason or "paused") if new is AgentState.PAUSED else None
        if new is not old or pause_reason != self.pause_reason:  # (another reason: a new pause)
            elapsed = max(0.0, now - self.state_since)  # counted once, when the span ends
            self.time_in_state[old] = self.time_in_state.get(old, 0.0) + elapsed
            self.state_since = now
        self.pause_reason = pause_reason
        if new is AgentState.AVAILABLE and old is not AgentState.RESERVED:
            self.idle_since = now
        elif new is AgentState.LOGGED_OUT:
            self.idle_since = None
            self.unreachable_streak = 0
            self.consecutive_misses = 0  # "in a row" ends with the session
        if new is not AgentState.WRAP_UP:
            self.wrapup_until = None
        if event is AgentEvent.LOGIN:
            self.calls_handled = 0  # counted per sign-in, as Asterisk's dynamic members
        if event is AgentEvent.ACCEPT:
            self.call_started_at = now
            self.consecutive_misses = 0
            self.unreachable_streak = 0
        elif new in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT):
            self.call_id = None
            self.call_queue = None
            self.call_started_at = None
        logger.debug(
            "transition %s --%s--> %s agent=%s", old.value, event.value, new.value, self.agent_id
        )
        return new

    def figures(self, now: float) -> AgentFigures:
        """The live figures, with time in the current state counted up to ``now``."""
        times = dict(self.time_in_state)
        times[self.state] = times.get(self.state, 0.0) + max(0.0, now - self.state_since)
        return AgentFigures(
            agent_id=self.agent_id,
            name=self.profile.name,
            state=self.state,
            pause_reason=self.pause_reason,
            call_id=self.call_id,
            calls_handled=self.calls_handled,
            idle_since=self.idle_since,
            state_since=self.state_since,
            time_in_state=MappingProxyType(times),
            consecutive_misses=self.consecutive_misses,
            missed_offers=self.missed_offers,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (for a shared store or a controller restart)."""
        return {
            "agent_id": self.agent_id,
            "name": self.profile.name,
            "endpoint": self.profile.endpoint,
            "skills": dict(self.profile.skills),
            "seq": self.seq,
            "state": self.state.value,
            "state_since": self.state_since,
            "pause_reason": self.pause_reason,
            "idle_since": self.idle_since,
            "calls_handled": self.calls_handled,
            "consecutive_misses": self.consecutive_misses,
            "missed_offers": self.missed_offers,
            "unreachable_streak": self.unreachable_streak,
            "phone_offline": self.phone_offline,
            "call_id": self.call_id,
            "call_queue": self.call_queue,
            "call_started_at": self.call_started_at,
            "wrapup_until": self.wrapup_until,
            "time_in_state": {s.value: t for s, t in self.time_in_state.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        """Rebuild an agent written by `to_dict`."""
        try:
            profile = AgentProfile(
                data["agent_id"], data["name"], data["endpoint"], SkillSet(data["skills"])
            )
            agent = cls(profile, seq=int(data["seq"]), now=float(data["state_since"]))
            agent.state = AgentState(data["state"])
            agent.pause_reason = data["pause_reason"]
            agent.idle_since = data["idle_since"]
            agent.calls_handled = int(data["calls_handled"])
            agent.consecutive_misses = int(data["consecutive_misses"])
            agent.missed_offers = int(data["missed_offers"])
            agent.unreachable_streak = int(data.get("unreachable_streak", 0))  # older state
            agent.phone_offline = bool(data.get("phone_offline", False))  # older state
            agent.call_id = data["call_id"]
            agent.call_queue = data["call_queue"]
            agent.call_started_at = data["call_started_at"]
            agent.wrapup_until = data["wrapup_until"]
            agent.time_in_state = {
                AgentState(s): float(t) for s, t in data["time_in_state"].items()
            }
        except (KeyError, ValueError, TypeError) as exc:
            raise RoutingConfigError(f"cannot restore agent from {dict(data)!r}: {exc}") from None
        return agent

    def __repr__(self) -> str:
        return f"Agent({self.agent_id!r}, {self.state.value})"
