"""One caller's path through the IVR: a pure, sans-I/O state machine over a declarative flow.

Theory of operation
-------------------
The ARI edge owns the sockets and the clock; this module owns the decisions. The edge feeds
`CallSession.receive` the *events* it translated from Asterisk (past tense: ``Answered``,
``PlaybackFinished``, ``DtmfReceived`` ...) with the time they happened, then drains
`CallSession.commands` and carries them out (imperative: ``Answer``, ``Play``, ``Enqueue``,
``Hangup`` ...). The session never reads a clock: it says when it next needs waking
(`next_deadline`) and the edge calls `handle_timer` once that time has passed.

What to say comes from a `Flow` (see `line311.ivr.flow`); *how* a call moves is the small
machine below, the same for every flow::

                 Answered            prompts done (menu-like node)
    ANSWERING ────────────▶ PLAYING ─────────────────────────────▶ COLLECTING
        │                   ▲  │ ▲  key (barge-in: StopPlayback)        │
        │                   │  │ └──────────────────────────────────────┤ key / timeout
        │                   │  │ "1" in SR confirmation                 │
        │                   │  └──────────────▶ LOOKING_UP ─ result ──▶ PLAYING
        │                   │ terminal node (queue/transfer/hangup)
        │                   └───────────────▶ ENDING ── prompts done ──▶ DONE
        └── CallerHungUp / CommandFailed / watchdog / unexpected event ──▶ DONE

In LOOKING_UP "please wait" is played first and the ``SrLookup`` emitted after it, so a slow
CRM never means silence; a result that arrives while "please wait" plays is kept and played
when the prompt ends (or at the lookup timeout, should the prompt never report its end).

One playback at a time (the next ``Play`` is emitted when the previous one finishes), so a
key press only has to stop one playback and a stale ``PlaybackFinished`` for a stopped one is
recognised by its id and ignored. A playback is a media list: the prompts in a row up to the
next pushed alert (`line311.ivr.steps.FlowSteps._next_group`); ``PlaybackContinuing`` between
them says which one plays (the record, a resumed call).

Every transition is one entry of `line311.ivr.transitions.TRANSITIONS`, keyed by
``(State, event type)``; the moves they are made of are in `line311.ivr.steps`. A pair
missing from the table is a protocol violation: the session hangs up, ends in ``DONE`` with
outcome ``failed`` and puts the reason in `record` (the edge logs it at WARNING). Once the
session is ``DONE`` it emits nothing more, whatever it is fed.

Timers: one per state (answer 5 s, each playback ``max_playback`` per prompt in it,
digit/entry/language timeouts, the SR lookup) plus one for the whole stay in the IVR
(``max_call``). Every state has a timer, so with no events at all a call always ends: the
properties in ``tests/property/test_ivr_*`` check it for any event sequence.

Outcomes: ``queued`` / ``referred`` when the caller is handed on; otherwise the last
resolution reached (``self_served`` after hearing self-service content, ``sr_lookup`` after an
SR status was read) whether the caller or the IVR hung up; without one, ``abandoned`` when the
caller hung up in the thin layer (before the start node was left), ``abandoned_in_ivr`` when
they hung up later, ``completed`` when the IVR said goodbye, ``failed`` on errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from line311.call.commands import Answer, Command
from line311.call.events import Event
from line311.call.record import Outcome
from line311.ivr.alerts import PushedAlert, as_pushed
from line311.ivr.errors import SessionRestoreError
from line311.ivr.flow import LANGUAGES, Flow, builtin_flow
from line311.ivr.state import (
    ANSWER_TIMEOUT,
    DEFAULT_MAX_PLAYBACK,
    SCHEMA,
    SR_STATUSES,
    Item,
    Phase,
    State,
    as_item,
    copy_json,
)
from line311.ivr.transitions import TRANSITIONS, Transitions, transition_table

__all__ = [
    "ANSWER_TIMEOUT",
    "DEFAULT_MAX_PLAYBACK",
    "SR_STATUSES",
    "CallSession",
    "Outcome",
    "State",
    "transition_table",
]

logger = logging.getLogger(__name__)


class CallSession(Transitions):
    """The call-flow state machine for one call. See the module docstring.

    ``flow`` is the validated flow to run (``None``: the built-in "greeting, then hang up").
    ``alerts`` are the pushed alerts live now (`PushedAlert`, or a plain prompt id for an
    untargeted one), most urgent first; each plays at most once, at its moment (see
    `line311.ivr.alerts`). ``info`` maps each
    self-service content key (e.g. ``asp_today``) to what to say: prompt ids and
    ``say:<kind>:<value>`` tokens. Both are fetched by the edge; a missing key is spoken as
    "information unavailable".

    ``language`` is the language the IVR speaks to the caller. The call's own language (the
    record's ``language``, the ``Enqueue``'s) is the same, except for a caller who chose "all
    other languages" at the language menu: spoken to in English, their call's language is
    `line311.call.values.OTHER_LANGUAGE`.
    """

    def __init__(
        self,
        call_id: str,
        dialed_number: str,
        now: float,
        *,
        flow: Flow | None = None,
        language: str = "en",
        max_playback: float | None = None,
        alerts: Sequence[str | PushedAlert] = (),
        info: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        self.call_id = call_id
        self.dialed_number = dialed_number
        self.flow = flow if flow is not None else builtin_flow()
        self.language = language
        self.max_playback = (
            max_playback if max_playback is not None else self.flow.settings.max_playback
        )
        self._alerts: list[PushedAlert] = [as_pushed(a) for a in alerts]
        self._alerts_played: list[str] = []
        self._info: dict[str, list[str]] = {k: list(v) for k, v in (info or {}).items()}
        self._state = State.ANSWERING
        self._outcome: Outcome | None = None
        self._resolution: Outcome | None = None
        self._pending: list[Command] = []
        self._timer: float | None = now + ANSWER_TIMEOUT
        self._timer_reason = "answer-timeout"
        self._call_deadline: float | None = None
        self._playback_seq = 0
        self._current_playback: str | None = None
        self._current_items: list[Item] = []
        self._current_index = 0
        self._playlist: list[Item] = []
        self._node_id = self.flow.start
        self._phase = Phase.NONE
        self._attempts = 0
        self._history: list[str] = []
        self._topic = "general"
        self._entry = ""
        self._sr_number: str | None = None
        self._sr_result: list[Item] = []
        self._sr_answer_pending: list[str | None] | None = None
        self._left_start = False
        self._record: dict[str, Any] = {
            "schema": SCHEMA,
            "call_id": call_id,
            "dialed_number": dialed_number,
            "flow": self.flow.name,
            "flow_version": self.flow.version,
            "started_at": now,
            "answered_at": None,
            "ended_at": None,
            "language": language,
            "language_selected_by": None,
            "nodes": [],
            "digits": [],
            "prompts": [],
            "alerts": [],
            "self_service": [],
            "sr_lookups": [],
            "referral": None,
            "queue": None,
            "exit": None,
            "outcome": None,
            "end_reason": None,
        }
        self._emit(Answer())

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> State:
        return self._state

    @property
    def finished(self) -> bool:
        return self._state is State.DONE

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    @property
    def node(self) -> str:
        """Id of the flow node the caller is in."""
        return self._node_id

    def receive(self, event: Event, now: float) -> None:
        """Feed one event that happened at ``now``. Deadlines already passed fire first."""
        self.handle_timer(now)
        if self.finished:
            return
        handler = TRANSITIONS.get((self._state, type(event)))
        before = self._state
        if handler is None:
            self._fail(now, f"unexpected {type(event).__name__} in state {self._state.value}")
        else:
            handler(self, event, now)
        logger.debug(
            "transition %s --%s--> %s", before.value, type(event).__name__, self._state.value
        )

    def commands(self) -> list[Command]:
        """Return and forget the commands emitted since the last call, in order."""
        out, self._pending = self._pending, []
        return out

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called; ``None`` when nothing is timed."""
        if self.finished:
            return None
        times = [t for t in (self._timer, self._call_deadline) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Fire the deadlines ``now`` has reached (in time order); otherwise do nothing."""
        for _ in range(8):  # each firing moves the session on; a few suffice
            deadline = self.next_deadline()
            if deadline is None or now < deadline:
                return
            before = self._state
            if self._timer is not None and self._timer <= deadline:
                reason = self._timer_reason
                self._timer = None
                self._on_timer(reason, deadline)
            else:
                reason = "max-call-time"
                self._call_deadline = None
                self._set_exit(reason)
                self._goto_terminal(self.flow.settings.on_exhausted, deadline)
            logger.debug("transition %s --%s--> %s", before.value, reason, self._state.value)

    def record(self) -> dict[str, Any]:
        """The JSON-able path of the call so far (a copy): nodes, digits, prompts, outcome."""
        record: dict[str, Any] = copy_json(self._record)
        return record

    # ------------------------------------------------------------------ persistence
    _FIELDS = (
        "call_id",
        "dialed_number",
        "language",
        "max_playback",
        "_info",
        "_timer",
        "_timer_reason",
        "_call_deadline",
        "_playback_seq",
        "_current_playback",
        "_node_id",
        "_attempts",
        "_history",
        "_topic",
        "_entry",
        "_sr_number",
        "_left_start",
        "_record",
    )

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume this call in another process (JSON-able).

        Commands not yet drained are not part of it: drain and execute them first.
        """
        data: dict[str, Any] = {k.lstrip("_"): copy_json(getattr(self, k)) for k in self._FIELDS}
        data.update(
            alerts=[a.to_dict() for a in self._alerts],
            alerts_played=list(self._alerts_played),
            schema=SCHEMA,
            flow_fingerprint=self.flow.fingerprint,
            state=self._state.value,
            phase=self._phase.value,
            outcome=None if self._outcome is None else self._outcome.value,
            resolution=None if self._resolution is None else self._resolution.value,
            current_items=[list(item) for item in self._current_items],
            current_index=self._current_index,
            # what a version that played one item per playback reads: the list's last item
            current_item=None if self._current_item is None else list(self._current_item),
            playlist=[list(item) for item in self._playlist],
            sr_result=[list(item) for item in self._sr_result],
            sr_answer_pending=copy_json(self._sr_answer_pending),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, flow: Flow | None = None) -> CallSession:
        """Rebuild a session saved by `to_dict`, under the same ``flow`` it was running."""
        flow = flow if flow is not None else builtin_flow()
        try:
            if data["schema"] != SCHEMA:
                raise SessionRestoreError(f"unsupported session schema {data['schema']!r}")
            if data["flow_fingerprint"] != flow.fingerprint:
                raise SessionRestoreError(
                    f"session {data['call_id']!r} was running another flow; "
                    "resume it with the flow it started on"
                )
            self = cls.__new__(cls)
            self.flow = flow
            for key in cls._FIELDS:
                setattr(self, key, copy_json(data[key.lstrip("_")]))
            self._alerts = [as_pushed(a) for a in data["alerts"]]
            self._alerts_played = [str(a) for a in data.get("alerts_played", ())]
            self._state = State(data["state"])
            self._phase = Phase(data["phase"])
            self._outcome = None if data["outcome"] is None else Outcome(data["outcome"])
            self._resolution = None if data["resolution"] is None else Outcome(data["resolution"])
            if "current_items" in data:
                self._current_items = [as_item(i) for i in data["current_items"]]
                self._current_index = int(data["current_index"])
            else:  # saved by a version that played one item per playback
                item = data["current_item"]
                self._current_items = [] if item is None else [as_item(item)]
                self._current_index = 0
            self._playlist = [as_item(i) for i in data["playlist"]]
            self._sr_result = [as_item(i) for i in data["sr_result"]]
            self._sr_answer_pending = copy_json(data.get("sr_answer_pending"))
            self._pending = []
            if self._node_id not in flow.nodes:
                raise SessionRestoreError(f"unknown node {self._node_id!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionRestoreError(f"cannot resume session: {exc!r}") from exc
        return self
