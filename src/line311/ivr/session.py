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

Prompts are played one at a time (the next ``Play`` is emitted when the previous one
finishes), so a key press only has to stop one playback and a stale ``PlaybackFinished``
for a stopped prompt is recognised by its id and ignored.

Every transition is one entry of ``_TRANSITIONS``, keyed by ``(State, event type)``. A pair
missing from the table is a protocol violation: the session hangs up, ends in ``DONE`` with
outcome ``failed`` and puts the reason in `record` (the edge logs it at WARNING). Once the
session is ``DONE`` it emits nothing more, whatever it is fed.

Timers: one per state (answer 5 s, each playback ``max_playback``, digit/entry/language
timeouts, the SR lookup) plus one for the whole stay in the IVR (``max_call``). Every state
has a timer, so with no events at all a call always ends: the properties in
``tests/property/test_ivr_*`` check it for any event sequence.

Outcomes: ``queued`` / ``referred`` when the caller is handed on; otherwise the last
resolution reached (``self_served`` after hearing self-service content, ``sr_lookup`` after an
SR status was read) whether the caller or the IVR hung up; without one, ``abandoned`` when the
caller hung up in the thin layer (before the start node was left), ``abandoned_in_ivr`` when
they hung up later, ``completed`` when the IVR said goodbye, ``failed`` on errors.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from line311.call.commands import (
    Answer,
    Command,
    Enqueue,
    Hangup,
    Play,
    SrLookup,
    StopPlayback,
    Transfer,
)
from line311.call.events import (
    AlertsChanged,
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    Resumed,
    SrLookupResult,
)
from line311.call.record import Outcome
from line311.ivr.alerts import Moment, PushedAlert, as_pushed, due
from line311.ivr.errors import SessionRestoreError
from line311.ivr.flow import LANGUAGES, Flow, Node, NodeKind, builtin_flow
from line311.ivr.say import say_date, say_digits, say_number, say_ordinal, say_time
from line311.ivr.srnumber import SR_NUMBER_LENGTH, validate_sr_number

__all__ = [
    "ANSWER_TIMEOUT",
    "DEFAULT_MAX_PLAYBACK",
    "SR_STATUSES",
    "CallSession",
    "Outcome",
    "State",
]

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 5.0
"""Seconds the edge has to confirm our ``Answer`` before the session gives up on the call."""

DEFAULT_MAX_PLAYBACK = 120.0
"""Default longest time one prompt may take to play before the session assumes it is stuck."""

SR_STATUSES = frozenset({"open", "in_progress", "assigned", "pending", "closed"})
"""SR status codes with a prompt of their own (``sr_status_<code>``); others are "unknown"."""

_SCHEMA = 2
_MAX_ENTRY_DIGITS = 20


class State(enum.Enum):
    """Where the session is. ``DONE`` is the only terminal state."""

    ANSWERING = "answering"
    PLAYING = "playing"
    COLLECTING = "collecting"
    LOOKING_UP = "looking_up"
    ENDING = "ending"
    DONE = "done"


class _Phase(enum.Enum):
    """Sub-step of an sr_status node (other nodes use ``NONE``)."""

    NONE = "none"
    ENTRY = "entry"
    CONFIRM = "confirm"
    RESULT = "result"


_Handler = Callable[["CallSession", Any, float], None]
_Item = tuple[str, str, str]  # (prompt_id, language, tag) - tag "alert:<id>" marks a pushed alert


class CallSession:
    """The call-flow state machine for one call. See the module docstring.

    ``flow`` is the validated flow to run (``None``: the built-in "greeting, then hang up").
    ``alerts`` are the pushed alerts live now (`PushedAlert`, or a plain prompt id for an
    untargeted one), most urgent first; each plays at most once, at its moment (see
    `line311.ivr.alerts`). ``info`` maps each
    self-service content key (e.g. ``asp_today``) to what to say: prompt ids and
    ``say:<kind>:<value>`` tokens. Both are fetched by the edge; a missing key is spoken as
    "information unavailable".
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
        self._current_item: _Item | None = None
        self._playlist: list[_Item] = []
        self._node_id = self.flow.start
        self._phase = _Phase.NONE
        self._attempts = 0
        self._history: list[str] = []
        self._topic = "general"
        self._entry = ""
        self._sr_number: str | None = None
        self._sr_result: list[_Item] = []
        self._sr_answer_pending: list[str | None] | None = None
        self._left_start = False
        self._record: dict[str, Any] = {
            "schema": _SCHEMA,
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
        handler = _TRANSITIONS.get((self._state, type(event)))
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
        record: dict[str, Any] = _copy(self._record)
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
        data: dict[str, Any] = {k.lstrip("_"): _copy(getattr(self, k)) for k in self._FIELDS}
        data.update(
            alerts=[a.to_dict() for a in self._alerts],
            alerts_played=list(self._alerts_played),
            schema=_SCHEMA,
            flow_fingerprint=self.flow.fingerprint,
            state=self._state.value,
            phase=self._phase.value,
            outcome=None if self._outcome is None else self._outcome.value,
            resolution=None if self._resolution is None else self._resolution.value,
            current_item=None if self._current_item is None else list(self._current_item),
            playlist=[list(item) for item in self._playlist],
            sr_result=[list(item) for item in self._sr_result],
            sr_answer_pending=_copy(self._sr_answer_pending),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, flow: Flow | None = None) -> CallSession:
        """Rebuild a session saved by `to_dict`, under the same ``flow`` it was running."""
        flow = flow if flow is not None else builtin_flow()
        try:
            if data["schema"] != _SCHEMA:
                raise SessionRestoreError(f"unsupported session schema {data['schema']!r}")
            if data["flow_fingerprint"] != flow.fingerprint:
                raise SessionRestoreError(
                    f"session {data['call_id']!r} was running another flow; "
                    "resume it with the flow it started on"
                )
            self = cls.__new__(cls)
            self.flow = flow
            for key in cls._FIELDS:
                setattr(self, key, _copy(data[key.lstrip("_")]))
            self._alerts = [as_pushed(a) for a in data["alerts"]]
            self._alerts_played = [str(a) for a in data.get("alerts_played", ())]
            self._state = State(data["state"])
            self._phase = _Phase(data["phase"])
            self._outcome = None if data["outcome"] is None else Outcome(data["outcome"])
            self._resolution = None if data["resolution"] is None else Outcome(data["resolution"])
            item = data["current_item"]
            self._current_item = None if item is None else _item(item)
            self._playlist = [_item(i) for i in data["playlist"]]
            self._sr_result = [_item(i) for i in data["sr_result"]]
            self._sr_answer_pending = _copy(data.get("sr_answer_pending"))
            self._pending = []
            if self._node_id not in flow.nodes:
                raise SessionRestoreError(f"unknown node {self._node_id!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionRestoreError(f"cannot resume session: {exc!r}") from exc
        return self

    # ------------------------------------------------------------------ output helpers
    def _emit(self, command: Command) -> None:
        self._pending.append(command)

    def _set_timer(self, delay: float, reason: str, now: float) -> None:
        self._timer = now + delay
        self._timer_reason = reason

    def _play_list(self, items: list[_Item], now: float, state: State) -> None:
        """Start playing ``items`` one after the other, in ``state``."""
        self._stop_current()
        self._state = state
        self._playlist = list(items)
        self._play_next(now)

    def _play_next(self, now: float) -> None:
        if not self._playlist:
            self._current_item = None
            self._prompts_done(now)
            return
        item = self._playlist.pop(0)
        prompt_id, language, _tag = item
        self._playback_seq += 1
        playback_id = f"{self.call_id}-p{self._playback_seq}"
        self._current_playback = playback_id
        self._current_item = item
        self._record["prompts"].append({"prompt_id": prompt_id, "language": language, "at": now})
        if self._state is not State.LOOKING_UP:
            self._set_timer(self.max_playback, "playback-timeout", now)
        self._emit(Play(playback_id=playback_id, prompt_id=prompt_id, language=language))

    def _stop_current(self) -> None:
        if self._current_playback is not None:
            self._emit(StopPlayback(self._current_playback))
        self._current_playback = None
        self._current_item = None
        self._playlist = []

    def _end(self, now: float, outcome: Outcome, reason: str, *, hangup: bool = True) -> None:
        if hangup:  # hanging up stops any playback: no StopPlayback needed
            self._emit(Hangup(reason="normal" if outcome is not Outcome.FAILED else reason))
        self._state = State.DONE
        self._outcome = outcome
        self._timer = None
        self._call_deadline = None
        self._current_playback = None
        self._current_item = None
        self._playlist = []
        self._record["ended_at"] = now
        self._record["outcome"] = outcome.value
        self._record["end_reason"] = reason

    def _fail(self, now: float, reason: str) -> None:
        self._end(now, Outcome.FAILED, reason)

    def _set_exit(self, reason: str) -> None:
        """Why the call left the menus for a terminal node (kept when the call then ends)."""
        if self._state not in (State.ENDING, State.DONE):
            self._record["exit"] = reason

    # ------------------------------------------------------------------ flow walking
    def _prompts_of(self, node: Node) -> list[_Item]:
        return [(p, self.language, "") for p in node.prompts.get(self.language, ())]

    def _say(self, *segments: str) -> list[_Item]:
        """Prompt ids and ``say:<kind>:<value>`` tokens -> what to play in the caller's language."""
        return [(p, self.language, "") for seg in segments for p in _expand(seg, self.language)]

    def _enter(self, node_id: str, now: float, alerts: Sequence[_Item] = ()) -> None:
        """Enter ``node_id``: play ``alerts`` (due before it), the alerts targeted at it,
        then what the node says."""
        node = self.flow.node(node_id)
        if node_id != self.flow.start:
            self._left_start = True
        self._node_id = node_id
        self._attempts = 0
        self._phase = _Phase.NONE
        self._record["nodes"].append({"node": node_id, "at": now})
        if (node.kind.interactive or node.kind is NodeKind.PLAY) and node.topic is not None:
            self._topic = node.topic
        alerts = [*alerts, *self._alert_items(Moment.NODE, now, node_id)]
        if node.kind.terminal:
            self._play_list(alerts + self._prompts_of(node), now, State.ENDING)
            return
        if node.kind is NodeKind.ALERTS:
            node_prompts = self._alert_items(Moment.GREETING, now)
        elif node.kind is NodeKind.SR_STATUS:
            self._phase = _Phase.ENTRY
            self._entry = ""
            self._sr_number = None
            node_prompts = self._prompts_of(node) + self._say("sr_enter")
        else:
            node_prompts = self._node_prompts(node)
        self._play_list(alerts + node_prompts, now, State.PLAYING)

    # ------------------------------------------------------------------ pushed alerts
    def _alert_items(self, moment: Moment, now: float, node: str | None = None) -> list[_Item]:
        """The pushed alerts due at ``moment`` as playlist items; they count as played."""
        language_known = self._record["language_selected_by"] is not None or not any(
            n.kind is NodeKind.LANGUAGE for n in self.flow.nodes.values()
        )
        items: list[_Item] = []
        for alert in due(
            self._alerts,
            self._alerts_played,
            moment,
            now=now,
            language=self.language,
            language_known=language_known,
            node=node,
        ):
            chosen = alert.prompt_for(self.language)
            assert chosen is not None  # due() leaves out the unplayable
            self._alerts_played.append(alert.alert_id)
            items.append((chosen[0], chosen[1], f"alert:{alert.alert_id}"))
        return items

    def _node_prompts(self, node: Node) -> list[_Item]:
        """What a node says when entered or repeated (sr_status: what its phase says)."""
        if node.kind is NodeKind.LANGUAGE:
            assert node.prompt is not None
            return [(node.prompt, lang, "") for _key, lang in sorted(node.options.items())]
        if node.kind is NodeKind.INFO:
            content = self._info.get(node.info or "")
            if not content:
                return self._prompts_of(node) + self._say("info_unavailable", "info_after")
            said = self._say(*content)
            said[-1] = (said[-1][0], said[-1][1], f"info:{node.info}")
            return self._prompts_of(node) + said + self._say("info_after")
        if node.kind is NodeKind.SR_STATUS:
            return self._sr_prompts()
        return self._prompts_of(node)

    def _goto_terminal(self, node_id: str, now: float) -> None:
        """Leave for a terminal node from wherever the call is (timers, exhausted attempts)."""
        if self._state in (State.ENDING, State.DONE):
            return
        self._enter(node_id, now)

    def _prompts_done(self, now: float) -> None:
        node = self.flow.node(self._node_id)
        if self._state is State.ENDING:
            self._finish_terminal(node, now)
        elif self._state is State.LOOKING_UP:
            # "please wait" is over: answer with a result that came during it, or keep
            # waiting for one under the lookup timer
            self._sr_answer_if_pending(now)
        elif node.kind in (NodeKind.PLAY, NodeKind.ALERTS):
            assert node.next is not None
            self._enter(node.next, now)
        else:
            self._state = State.COLLECTING
            if node.kind is NodeKind.LANGUAGE:
                self._set_timer(self.flow.settings.language_timeout, "language-timeout", now)
            elif node.kind is NodeKind.SR_STATUS and self._phase is _Phase.ENTRY:
                self._set_timer(self.flow.settings.entry_timeout, "entry-timeout", now)
            else:
                self._set_timer(self.flow.settings.digit_timeout, "digit-timeout", now)

    def _finish_terminal(self, node: Node, now: float) -> None:
        if node.kind is NodeKind.QUEUE:
            topic = node.topic or self._topic
            self._record["queue"] = {
                "language": self.language,
                "topic": topic,
                "priority": node.priority,
                "at": now,
            }
            self._emit(Enqueue(language=self.language, topic=topic, priority=node.priority))
            self._end(now, Outcome.QUEUED, "queued", hangup=False)
        elif node.kind is NodeKind.TRANSFER:
            assert node.endpoint is not None
            assert node.agency is not None
            self._record["referral"] = {"agency": node.agency, "endpoint": node.endpoint, "at": now}
            self._emit(Transfer(endpoint=node.endpoint, agency=node.agency))
            self._end(now, Outcome.REFERRED, "referred", hangup=False)
        else:
            self._end(now, self._resolution or Outcome.COMPLETED, "flow-finished")

    def _resolve(self, outcome: Outcome) -> None:
        self._resolution = outcome

    def _retry(self, prompt: str, now: float) -> None:
        """An invalid or missing entry: count it, then say so and repeat, or give up."""
        self._attempts += 1
        if self._attempts >= self.flow.settings.max_attempts:
            self._set_exit("max-attempts")
            self._goto_terminal(self.flow.settings.on_exhausted, now)
            return
        node = self.flow.node(self._node_id)
        self._play_list(self._say(prompt) + self._node_prompts(node), now, State.PLAYING)

    def _repeat(self, now: float) -> None:
        node = self.flow.node(self._node_id)
        if node.kind is NodeKind.SR_STATUS and self._phase is _Phase.ENTRY:
            self._entry = ""
        self._play_list(self._node_prompts(node), now, State.PLAYING)

    def _back(self, now: float) -> None:
        if not self._history:
            self._retry("invalid_choice", now)
            return
        self._enter(self._history.pop(), now)

    def _forward(self, node_id: str, now: float) -> None:
        self._history.append(self._node_id)
        self._enter(node_id, now)

    # ------------------------------------------------------------------ SR status
    def _sr_prompts(self) -> list[_Item]:
        if self._phase is _Phase.ENTRY:
            return self._say("sr_enter")
        if self._phase is _Phase.CONFIRM:
            assert self._sr_number is not None
            return self._say(
                "sr_you_entered", f"say:digits:{self._sr_number}", "sr_confirm_options"
            )
        return list(self._sr_result)

    def _sr_key(self, key: str, now: float) -> None:
        if self._phase is _Phase.ENTRY:
            if key == "*":
                self._repeat(now)
            elif key == "#":
                self._sr_submit(now)
            elif key.isdigit():
                self._entry += key
                if len(self._entry) > _MAX_ENTRY_DIGITS:
                    self._entry = ""
                    self._retry("sr_invalid", now)
                elif self._state is State.COLLECTING:
                    self._set_timer(self.flow.settings.entry_timeout, "entry-timeout", now)
            else:
                self._retry("invalid_choice", now)
            return
        if self._phase is _Phase.CONFIRM and key == "1":
            assert self._sr_number is not None
            self._sr_answer_pending = None
            self._play_list(self._say("sr_please_wait"), now, State.LOOKING_UP)
            self._set_timer(self.flow.settings.lookup_timeout, "lookup-timeout", now)
            self._emit(SrLookup(sr_number=self._sr_number))  # after the Play: no silence
        elif self._phase is _Phase.CONFIRM and key == "2":
            self._phase = _Phase.ENTRY
            self._entry = ""
            self._play_list(self._say("sr_enter"), now, State.PLAYING)
        else:
            self._menu_key(key, {}, now)

    def _sr_submit(self, now: float) -> None:
        entry, self._entry = self._entry, ""
        if not entry:
            self._retry("no_input", now)
        elif len(entry) != SR_NUMBER_LENGTH or not validate_sr_number(entry):
            self._retry("sr_invalid", now)
        else:
            self._sr_number = entry
            self._phase = _Phase.CONFIRM
            self._attempts = 0
            self._play_list(self._sr_prompts(), now, State.PLAYING)

    def _sr_answer(self, result: str, status: str | None, updated: str | None, now: float) -> None:
        self._record["sr_lookups"].append(
            {"sr_number": self._sr_number, "result": result, "status": status, "at": now}
        )
        if result == "found":
            code = status if status in SR_STATUSES else "unknown"
            said = ["sr_status_is", f"sr_status_{code}"]
            if updated:
                said += ["sr_updated_on", f"say:date:{updated}"]
            said.append("sr_result_options")
            self._resolve(Outcome.SR_LOOKUP)
        elif result == "not_found":
            said = ["sr_not_found", "offer_representative"]
        else:
            said = ["sr_unavailable", "offer_representative"]
        self._phase = _Phase.RESULT
        self._attempts = 0
        self._sr_result = self._say(*said)
        self._play_list(self._sr_prompts(), now, State.PLAYING)

    # ------------------------------------------------------------------ keys
    def _key(self, key: str, now: float) -> None:
        node = self.flow.node(self._node_id)
        if node.kind is NodeKind.LANGUAGE:
            language = node.options.get(key)
            if language is None:
                self._retry("invalid_choice", now)
            else:
                self._choose_language(language, "dtmf", now)
        elif node.kind is NodeKind.SR_STATUS:
            self._sr_key(key, now)
        elif node.kind is NodeKind.MENU:
            self._menu_key(key, node.options, now)
        elif node.kind in (NodeKind.PLAY, NodeKind.ALERTS):
            assert node.next is not None  # an interruptible announcement: a key skips it
            self._enter(node.next, now)
        else:
            self._menu_key(key, {}, now)

    def _menu_key(self, key: str, options: Mapping[str, str], now: float) -> None:
        if key in options:
            self._forward(options[key], now)
        elif key == "*":
            self._repeat(now)
        elif key == "9":
            self._back(now)
        elif key == "0":
            self._set_exit("representative-requested")
            self._enter(self.flow.settings.representative, now)
        else:
            self._retry("invalid_choice", now)

    def _choose_language(self, language: str, how: str, now: float) -> None:
        self.language = language
        self._record["language"] = language
        self._record["language_selected_by"] = how
        node = self.flow.node(self._node_id)
        assert node.next is not None
        self._history.append(self._node_id)
        self._enter(node.next, now, self._alert_items(Moment.LANGUAGE, now))

    # ------------------------------------------------------------------ transitions
    def _on_answered(self, event: Answered, now: float) -> None:
        self._record["answered_at"] = now
        self._call_deadline = now + self.flow.settings.max_call
        self._enter(self.flow.start, now)

    def _on_playback_finished(self, event: PlaybackFinished, now: float) -> None:
        if event.playback_id != self._current_playback:
            return  # a stale playback (one we stopped earlier): nothing to do
        item = self._current_item
        alert_id = _alert_of(item)
        if event.failed and alert_id is not None:
            # Alerts are recorded by supervisors at short notice: a missing one is skipped,
            # it must not cost every caller their call.
            self._record_alert(alert_id, item, now, failed=True)
        elif event.failed:
            self._fail(now, f"playback-failed:{event.playback_id}")
            return
        elif alert_id is not None:
            self._record_alert(alert_id, item, now)
        elif item is not None and item[2].startswith("info:"):
            info = item[2].removeprefix("info:")
            self._resolve(Outcome.SELF_SERVED)
            self._record["self_service"].append({"info": info, "at": now})
        self._current_playback = None
        self._play_next(now)

    def _record_alert(
        self, alert_id: str, item: _Item | None, now: float, *, failed: bool = False
    ) -> None:
        assert item is not None
        entry: dict[str, Any] = {
            "prompt_id": item[0],
            "alert_id": alert_id,
            "language": item[1],
            "node": self._node_id,
            "at": now,
        }
        if failed:
            entry["failed"] = True
        self._record["alerts"].append(entry)

    def _on_dtmf(self, event: DtmfReceived, now: float) -> None:
        node = self.flow.node(self._node_id)
        interrupting = self._state is State.PLAYING
        # A pushed alert played on entering a menu is not skipped by a key (the alerts node
        # itself follows its own ``interruptible`` setting).
        alert_playing = (
            node.kind is not NodeKind.ALERTS and _alert_of(self._current_item) is not None
        )
        if interrupting and (not node.interruptible or alert_playing):
            self._record["digits"].append(
                {"digit": event.digit, "node": self._node_id, "at": now, "ignored": True}
            )
            return
        self._record["digits"].append({"digit": event.digit, "node": self._node_id, "at": now})
        if interrupting:
            self._stop_current()  # barge-in
            self._state = State.COLLECTING
            self._timer = None
        self._key(event.digit, now)
        if self._state is State.COLLECTING and self._timer is None:
            # barge-in that did not move the call on (e.g. an SR digit): wait for the next key
            reason = "entry-timeout" if self._phase is _Phase.ENTRY else "digit-timeout"
            delay = (
                self.flow.settings.entry_timeout
                if self._phase is _Phase.ENTRY
                else self.flow.settings.digit_timeout
            )
            self._set_timer(delay, reason, now)

    def _on_timer(self, reason: str, now: float) -> None:
        if reason in ("answer-timeout", "playback-timeout"):
            self._fail(now, reason)
        elif reason == "lookup-timeout":
            self._stop_current()
            if not self._sr_answer_if_pending(now):
                self._sr_answer("unavailable", None, None, now)
        elif reason == "language-timeout":
            self._choose_language(LANGUAGES[0], "timeout", now)
        elif reason == "entry-timeout" and self._entry:
            self._sr_submit(now)
        else:
            self._retry("no_input", now)

    def _on_sr_result(self, event: SrLookupResult, now: float) -> None:
        if event.sr_number != self._sr_number:
            return
        self._sr_answer_pending = [event.result, event.status, event.updated]
        if self._current_playback is None:  # "please wait" is over: answer now
            self._sr_answer_if_pending(now)

    def _sr_answer_if_pending(self, now: float) -> bool:
        pending, self._sr_answer_pending = self._sr_answer_pending, None
        if pending is None:
            return False
        result, status, updated = pending
        assert result is not None
        self._sr_answer(result, status, updated, now)
        return True

    def _on_caller_hung_up(self, event: CallerHungUp, now: float) -> None:
        if self._resolution is not None:
            outcome = self._resolution
        elif self._left_start:
            outcome = Outcome.ABANDONED_IN_IVR
        else:
            outcome = Outcome.ABANDONED
        self._end(now, outcome, "caller-hung-up", hangup=False)

    def _on_command_failed(self, event: CommandFailed, now: float) -> None:
        if event.command == "StopPlayback":
            return  # the playback had already ended: a harmless race
        self._fail(now, f"command-failed:{event.command}:{event.reason}")

    def _on_alerts_changed(self, event: AlertsChanged, now: float) -> None:
        self._alerts = [as_pushed(a) for a in event.alerts]

    def _on_resumed(self, event: Resumed, now: float) -> None:
        """Carried on by another process: re-do what may have been lost meanwhile."""
        if self._state is State.ANSWERING:
            self._emit(Answer())  # answering an answered channel is harmless
            return
        item, playing = self._current_item, self._current_playback
        if playing is not None and item is not None:
            self._emit(StopPlayback(playing))  # it may still play; its end is then stale
            self._current_playback = None
            self._playlist.insert(0, item)
            self._play_next(now)  # the interrupted prompt again, under a new playback id
        if self._state is State.LOOKING_UP and self._sr_number is not None:
            if self._sr_answer_pending is None:
                self._emit(SrLookup(sr_number=self._sr_number))  # its answer may be lost
            elif self._current_playback is None:
                self._sr_answer_if_pending(now)

    def _ignore(self, event: Event, now: float) -> None:
        """Benign events that change nothing (e.g. PlaybackStarted, DTMF while answering)."""


_LIVE = (State.ANSWERING, State.PLAYING, State.COLLECTING, State.LOOKING_UP, State.ENDING)
_TRANSITIONS: dict[tuple[State, type[Any]], _Handler] = {
    (State.ANSWERING, Answered): CallSession._on_answered,
    (State.ANSWERING, DtmfReceived): CallSession._ignore,
    **{(s, PlaybackStarted): CallSession._ignore for s in _LIVE if s is not State.ANSWERING},
    **{(s, PlaybackFinished): CallSession._on_playback_finished for s in _LIVE[1:]},
    (State.PLAYING, DtmfReceived): CallSession._on_dtmf,
    (State.COLLECTING, DtmfReceived): CallSession._on_dtmf,
    (State.LOOKING_UP, DtmfReceived): CallSession._ignore,
    (State.ENDING, DtmfReceived): CallSession._ignore,
    (State.LOOKING_UP, SrLookupResult): CallSession._on_sr_result,
    **{(s, SrLookupResult): CallSession._ignore for s in _LIVE[1:] if s is not State.LOOKING_UP},
    **{(s, CallerHungUp): CallSession._on_caller_hung_up for s in _LIVE},
    **{(s, CommandFailed): CallSession._on_command_failed for s in _LIVE},
    **{(s, AlertsChanged): CallSession._on_alerts_changed for s in _LIVE},
    **{(s, Resumed): CallSession._on_resumed for s in _LIVE},
}
"""The whole behaviour of the session: (state, event type) -> handler. Anything else is fatal."""


def transition_table() -> dict[tuple[State, type[Any]], str]:
    """The transition table as (state, event type) -> handler name, for docs and diagrams."""
    return {key: handler.__name__.lstrip("_") for key, handler in _TRANSITIONS.items()}


def _expand(segment: str, language: str) -> list[str]:
    """A prompt id stays itself; ``say:<kind>:<value>`` becomes the prompt ids that speak it.

    Kinds: ``digits`` (read one by one, e.g. SR numbers), ``number``, ``ordinal``, ``date``
    (ISO ``YYYY-MM-DD``) and ``time`` (``HH:MM``). A value that cannot be spoken is skipped
    (content comes from outside; one bad value must not cost the caller the rest).
    """
    if not segment.startswith("say:"):
        return [segment]
    kind, _, value = segment[4:].partition(":")
    try:
        if kind == "digits":
            return say_digits(value, language)
        if kind == "number":
            return say_number(int(value), language)
        if kind == "ordinal":
            return say_ordinal(int(value), language)
        if kind == "date":
            return say_date(dt.date.fromisoformat(value), language)
        if kind == "time":
            return say_time(dt.time.fromisoformat(value), language)
    except ValueError:
        pass
    logger.debug("cannot speak %r in %s: skipped", segment, language)
    return []


def _alert_of(item: _Item | None) -> str | None:
    """The alert id of a playlist item that is a pushed alert (None: not an alert)."""
    if item is None:
        return None
    if item[2] == "alert":  # saved by a version that did not tag the id
        return item[0]
    return item[2].removeprefix("alert:") if item[2].startswith("alert:") else None


def _item(raw: Any) -> _Item:
    prompt_id, language, tag = raw
    return (str(prompt_id), str(language), str(tag))


def _copy(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, tuples as lists, scalars)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
