"""How a session kind plugs into the runner: the registry entry and what it is given.

A *session kind* is one sans-I/O state machine implementing `line311.call.ports.Session`
(``to_dict`` plus a ``from_dict`` to rebuild it) together with what only that kind knows at the
edge: how a new one starts, how a saved one resumes, the commands the runner cannot carry out
by itself, and what to do once a session of the kind has ended (write its record). See
`line311.ari.runner` for the runner itself.

The registry (``Runner(client, kinds=[...])``, by ``SessionKind.name``)
----------------------------------------------------------------------
- StasisStart: the first kind whose ``accepts(new_call)`` is true starts a session with
  ``start(CallStart)``. The IVR (``ivr``, `line311.ari.ivr_kind`) accepts ``inbound``.
- A command of the session that the runner does not know goes to ``kind.handlers`` (then the
  runner-wide ``command_handlers``) by type. A handler returning `HandOver("queue")` hands the
  call on: the finished session's ``ended`` runs (``handed_over=True``) and
  ``kinds["queue"].start(CallStart(cause=command))`` carries the same call on the same channel,
  saved under the same call id.
- ``ended(Ended)`` runs once per session (the IVR writes the IVR half of the call record).

The queued call is one (`line311.ari.queue_kind.QueueKind.session_kind`): the IVR's
``Enqueue`` handler answers ``HandOver("queue")``; the leg's router commands are answered by
the kind inside its session, its ARI commands are its handlers (`stops_batch`: a failed step
drops the rest of its batch); the channels it dials are tied to the call with `Runner.attach`
before they are dialled (and `Runner.detach`-ed when the leg lets go of them), and their events
and StasisStart go through ``kind.adopt(channel_id, event)`` to the leg. The router's
decisions (offers, expiries) reach a leg through `Runner.deliver(call_id, event)` from the
router's task, which runs in the runner's task group (``Runner(tasks=[...])``).

Every kind handles `line311.call.events.Resumed` (fed after ``resume``).

The supervisor line is one (`line311.ari.supervisor_kind.supervisor_kind`: accepts
``agent-feature`` with ``*80``; its ``Record``/``StopRecording``/``PlayRecording`` are the
runner's own commands, its PIN/audio/submit steps its handlers; ``ended`` deletes its takes).
The other agent feature codes (``*71``..``*74``) are a ``stasis_handlers`` entry (a StasisStart
no kind accepts, by its first Stasis argument).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from line311.ari.translate import NewCall
from line311.call.events import Event
from line311.call.ports import Session

__all__ = [
    "CallFacts",
    "CallStart",
    "CommandHandler",
    "Ended",
    "HandOver",
    "SessionKind",
]


@dataclass(frozen=True, slots=True)
class CallStart:
    """What a new session starts from: a channel that entered our app, or a hand-over."""

    call_id: str
    """The call's id everywhere (records, store, logs): the caller's channel id."""
    channel_id: str
    dialed_number: str
    now: float
    """Wall-clock seconds (the runner's `Clock`)."""
    args: tuple[str, ...] = ()
    """The Stasis arguments after the first (the kind) one."""
    channel_name: str = ""
    cause: object | None = None
    """For a hand-over: the command of the previous session that handed the call on (e.g. the
    IVR's ``Enqueue``, carrying the language and topic the queue leg needs)."""


@dataclass(frozen=True, slots=True)
class HandOver:
    """A command handler's answer: the call goes on, on the same channel, as a new session of
    ``kind`` (started with ``CallStart.cause`` = the handled command). The current session
    must be finished by that command (as ``Enqueue`` finishes the IVR session)."""

    kind: str


@dataclass(slots=True)
class CallFacts:
    """What the runner itself knows of a call (saved with the session's state)."""

    call_id: str
    channel_id: str
    dialed_number: str
    caller_hash: str | None
    started_at: float
    answered_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallFacts:
        return cls(
            call_id=str(data["call_id"]),
            channel_id=str(data["channel_id"]),
            dialed_number=str(data["dialed_number"]),
            caller_hash=None if data.get("caller_hash") is None else str(data["caller_hash"]),
            started_at=float(data["started_at"]),
            answered_at=None if data.get("answered_at") is None else float(data["answered_at"]),
        )


@dataclass(frozen=True, slots=True)
class Ended:
    """A session is over (`SessionKind.ended`)."""

    facts: CallFacts
    session: Session
    outcome: str
    """The session's outcome value (``failed`` when the runner gave up on it)."""
    ended_at: float
    handed_over: bool = False
    """The call goes on as a session of another kind (so it is not over yet)."""


CommandHandler = Callable[[str, Any], Awaitable["Event | HandOver | None"]]
"""``handler(channel_id, command)`` for a command the runner does not carry out itself.
Returns an event to feed back to the session, a `HandOver`, or None. An `AriError` or any
other exception becomes ``CommandFailed``. A handler that succeeds for the command that ends
a session is taken to have taken the channel over (the runner does not hang it up)."""


@dataclass(frozen=True, slots=True)
class SessionKind:
    """One kind of session in the runner's registry."""

    name: str
    """Registry key, saved with the state (``ivr``, ``queue``, ``supervisor``)."""
    start: Callable[[CallStart], Session]
    """A new session (new call or hand-over)."""
    resume: Callable[[Mapping[str, Any], CallFacts], Session]
    """A session rebuilt from its saved ``to_dict`` (usually the class's ``from_dict``); the
    runner then feeds it `line311.call.events.Resumed`. Raising means "cannot resume"."""
    accepts: Callable[[NewCall], bool] | None = None
    """Which StasisStarts start this kind (None: only hand-overs do)."""
    handlers: Mapping[type[Any], CommandHandler] = field(default_factory=dict)
    """Handlers of the kind's own commands, by command type (base classes match too)."""
    ended: Callable[[Ended], Awaitable[None]] | None = None
    """Called once per session when it is over (its record); errors are logged."""
    adopt: Callable[[str, Event | NewCall], Event | None] | None = None
    """For kinds with more channels than the caller's (`Runner.attach`): the event (or the
    StasisStart) of an attached channel as the session's event; None drops it."""
    stops_batch: Callable[[object, Event | None], bool] | None = None
    """``stops_batch(command, answer)``: the rest of the batch is dropped after this answer
    of a handler (besides ``CommandFailed``, which always stops it)."""
